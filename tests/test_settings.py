"""glitchzap.settings: YAML file, environment, precedence and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from glitchzap.errors import ConfigError
from glitchzap.runtime import configure, current
from glitchzap.settings import find_config_file, load_settings


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    loaded = load_settings()
    assert find_config_file() is None  # the tests run in an empty temporary directory
    assert loaded.cache.backend == "disk"
    assert loaded.limits.max_pixels == 50_000_000


def test_yaml_file_values_are_used(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "conf.yaml",
        "cache:\n  backend: memory\n  expiry_days: 2\nlimits:\n  max_frames: 12\n",
    )
    loaded = load_settings(path)
    assert loaded.cache.backend == "memory"
    assert loaded.cache.expiry_days == 2
    assert loaded.limits.max_frames == 12
    assert loaded.limits.max_pixels == 50_000_000  # keys not in the file keep their defaults


def test_environment_overrides_the_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_yaml(tmp_path / "conf.yaml", "cache:\n  backend: memory\n  expiry_days: 2\n")
    monkeypatch.setenv("GLITCHZAP_CACHE__BACKEND", "redis")

    loaded = load_settings(path)

    assert loaded.cache.backend == "redis"
    assert loaded.cache.expiry_days == 2  # the rest of the section still comes from the file


def test_values_passed_in_code_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLITCHZAP_CACHE__BACKEND", "redis")
    assert load_settings(cache={"backend": "memory"}).cache.backend == "memory"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cache:\n  bogus: 1\n", "cache.bogus"),
        ("limits:\n  max_pixels: -5\n", "limits.max_pixels"),
        ("limits:\n  max_pixels: lots\n", "limits.max_pixels"),
        ("cache:\n  backend: floppy\n", "cache.backend"),
        ("nonsense_section: {}\n", "nonsense_section"),
    ],
)
def test_bad_yaml_values_raise_config_error_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    path = write_yaml(tmp_path / "conf.yaml", text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_unknown_key_is_called_unknown(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "conf.yaml", "cache:\n  bogus: 1\n")
    with pytest.raises(ConfigError, match=r"cache\.bogus: unknown key"):
        load_settings(path)


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("GLITCHZAP_CACHE__BOGUS", "1", "cache.bogus"),
        ("GLITCHZAP_LIMITS__MAX_PIXELS", "abc", "limits.max_pixels"),
        ("GLITCHZAP_LIMITS__MAX_PIXELS", "0", "limits.max_pixels"),
    ],
)
def test_bad_environment_values_raise_config_error_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, key: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings()


def test_malformed_json_section_variable_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLITCHZAP_LIMITS", "{not json")
    with pytest.raises(ConfigError, match=r"GLITCHZAP_LIMITS|limits"):
        load_settings()


def test_unreadable_or_malformed_files_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write_yaml(tmp_path / "bad.yaml", "cache: [unclosed\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write_yaml(tmp_path / "list.yaml", "- cache\n- limits\n"))
    assert load_settings(write_yaml(tmp_path / "empty.yaml", "")).cache.backend == "disk"


def test_glitchzap_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    path = write_yaml(elsewhere / "glitchzap.yaml", "server:\n  port: 9123\n")
    monkeypatch.setenv("GLITCHZAP_CONFIG", str(path))

    assert find_config_file() == path
    assert load_settings().server.port == 9123


def test_local_config_yaml_is_discovered(tmp_path: Path) -> None:
    write_yaml(tmp_path / "config.yaml", "server:\n  port: 9001\n")  # tmp_path is the cwd
    assert load_settings().server.port == 9001


def test_explicit_path_beats_glitchzap_config_which_beats_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(tmp_path / "config.yaml", "server:\n  port: 9001\n")
    env_file = write_yaml(tmp_path / "env.yaml", "server:\n  port: 9002\n")
    explicit = write_yaml(tmp_path / "explicit.yaml", "server:\n  port: 9003\n")
    monkeypatch.setenv("GLITCHZAP_CONFIG", str(env_file))

    assert load_settings().server.port == 9002
    assert load_settings(explicit).server.port == 9003


def test_glitchzap_data_dir_moves_the_derived_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLITCHZAP_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("U2NET_HOME", raising=False)

    loaded = load_settings()

    assert loaded.data_dir == tmp_path / "elsewhere"
    assert loaded.cache_dir == tmp_path / "elsewhere" / "cache"
    assert loaded.models_dir == tmp_path / "elsewhere" / "models"
    assert loaded.templates_dir == tmp_path / "elsewhere" / "templates"


def test_explicit_section_dirs_beat_the_data_dir(tmp_path: Path) -> None:
    loaded = load_settings(data_dir=tmp_path / "d", cache={"dir": tmp_path / "c"})
    assert loaded.cache_dir == tmp_path / "c"
    assert loaded.templates_dir == tmp_path / "d" / "templates"


def test_configure_replaces_the_process_wide_settings(tmp_path: Path) -> None:
    before = current().settings
    assert current().settings is before  # loaded once, then reused
    after = configure(data_dir=tmp_path / "new", limits={"max_frames": 3}).settings
    assert current().settings is after is not before
    assert current().settings.limits.max_frames == 3
