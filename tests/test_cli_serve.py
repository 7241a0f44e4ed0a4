import argparse

import pytest
from seqzoo.zoo.errors import InputError

from seqzoo.cli.serve import add_arguments, settings_from


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_max_connection_age_becomes_grpc_channel_options():
    _, server = settings_from(parse("--max-connection-age", "300"))
    options = dict(server.extra_options)
    assert options["grpc.max_connection_age_ms"] == 300_000
    assert options["grpc.max_connection_age_grace_ms"] == 30_000
    _, default = settings_from(parse())
    assert not any(name.startswith("grpc.max_connection_age") for name, _ in default.extra_options)


def test_negative_connection_age_is_refused_naming_the_option():
    with pytest.raises(InputError, match="--max-connection-age"):
        settings_from(parse("--max-connection-age", "-1"))
