"""The core every wing shares: alphabets and encoding, the model card, the artifact layout, registries."""
