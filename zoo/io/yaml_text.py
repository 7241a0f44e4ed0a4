"""Reading YAML that other people wrote (catalogue recipes, training configs and grids), safely.

``yaml.safe_load`` refuses tags that build objects, but not aliases: a 499-byte document of nested
aliases (the "billion laughs") expands to gigabytes as soon as anything walks or prints it. seqzoo's
documents never need an alias, so every one is refused where it is read, with its line.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from seqzoo.zoo.errors import InputError


@cache
def _loader():
    import yaml

    class NoAliases(yaml.SafeLoader):
        """yaml.SafeLoader that refuses aliases (``*name``) before they are resolved."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise InputError(f"YAML aliases (*{str(event.anchor)[:40]}) are not allowed here; write the "
                                 "value out", line=event.start_mark.line + 1)
            return super().compose_node(parent, index)

    return NoAliases


def load_yaml(text: str, where: str | Path):
    """The document of ``text`` (read from ``where``, which errors name): plain YAML only - no
    aliases, no tags beyond the safe ones. InputError ``where: not YAML (...)`` otherwise."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    except InputError as exc:
        raise exc.at(file=str(where)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not YAML ({str(exc).splitlines()[0][:200]})") from None
