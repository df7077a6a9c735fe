"""Reading the configuration file: YAML in, a checked ``Config`` out, or every mistake at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from dnsfilter.config.settings import Config
from dnsfilter.errors import ConfigError
from dnsfilter.yamlread import compose
from dnsfilter.yamlschema import NULL_TAG, Invalid, Problems, section

_CONFIG = section(Config)


def parse_config(text: str, source: str = "<config>") -> Config:
    """The configuration in ``text``; ConfigError lists every problem found."""
    try:
        root = compose(text)
    except Invalid as error:
        raise ConfigError(source, [error.message or "the file cannot be read as YAML"]) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG):
        return Config()  # an empty file, or one with only comments
    problems = Problems()
    if not isinstance(root, yaml.MappingNode):
        problems.add(
            "", root, "the file must hold sections such as dns: and upstream:, each with its keys below it"
        )
        raise ConfigError(source, problems.messages)
    try:
        return _CONFIG(root, "", problems)
    except Invalid as error:
        if error.message is not None:
            problems.add("", root, error.message)
        raise ConfigError(source, problems.messages) from None


def load_config(path: str | Path) -> Config:
    """Read and check the configuration file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problem = "the file does not exist; copy config/dnsfilter.yaml there, or give the right path"
    except IsADirectoryError:
        problem = "is a directory; give the path of the configuration file itself"
    except PermissionError:
        problem = "cannot be read (permission denied); make it readable by the user dnsfilter runs as"
    except OSError as error:
        problem = f"cannot be read ({error.strerror}); check the path and the disk"
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text (a bad byte at position {error.start}); save it as UTF-8"
    else:
        return _data_dir_from(Path(path), parse_config(text, source))
    raise ConfigError(source, [problem])


def _data_dir_from(path: Path, config: Config) -> Config:
    """A relative ``data_dir`` is the config file's neighbour, whatever folder a command runs in."""
    if config.data_dir.is_absolute():
        return config
    return dataclasses.replace(config, data_dir=path.absolute().parent / config.data_dir)


