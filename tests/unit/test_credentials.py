"""daemon/settings/: settings from systemd credentials ($CREDENTIALS_DIRECTORY)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon import settings
from daemon.settings import ConfigError

# "whsec_" and the base64 of "credential-key-for-the-tests" / "key-from-the-env-file".
SECRET = "whsec_Y3JlZGVudGlhbC1rZXktZm9yLXRoZS10ZXN0cw=="
OTHER_SECRET = "whsec_a2V5LWZyb20tdGhlLWVudi1maWxl"
URL = "https://hooks.example.org/pledges"


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty credentials folder that $CREDENTIALS_DIRECTORY points at, as systemd sets it."""
    folder = tmp_path / "credentials"
    folder.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _no_outside_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run under a systemd unit must not see that unit's credentials."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    """Write a credential the way an operator's `echo value > file` does: newline-terminated."""
    path = folder / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


class TestValues:
    def test_a_credential_supplies_a_webhook_secret_beside_the_url_from_the_environment(
        self, credentials: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PLEDGEWATCH_WEBHOOKS__OPS__URL", URL)
        write(credentials, "PLEDGEWATCH_WEBHOOKS__OPS__SECRET", SECRET)
        hook = settings.load_settings().webhooks["ops"]
        assert hook.url == URL
        assert hook.secrets == [SECRET]

    def test_a_credential_supplies_the_database_url_without_its_trailing_newline(
        self, credentials: Path
    ) -> None:
        url = "postgresql://pledgewatch:pa55word@db.internal/pledges"
        write(credentials, "PLEDGEWATCH_DATABASE_URL", url)
        assert settings.load_settings().database_url == url

    def test_a_credential_supplies_the_api_token(self, credentials: Path) -> None:
        write(credentials, "PLEDGEWATCH_API_TOKEN", "t0ken-from-a-credential")
        token = settings.load_settings().api_token
        assert token is not None
        assert token.get_secret_value() == "t0ken-from-a-credential"

    def test_a_whole_webhook_can_come_from_credentials(self, credentials: Path) -> None:
        write(credentials, "PLEDGEWATCH_WEBHOOKS__DESK__URL", URL)
        write(credentials, "PLEDGEWATCH_WEBHOOKS__DESK__SECRET", SECRET)
        loaded = settings.load_settings()
        assert list(loaded.webhooks) == ["desk"]
        assert loaded.webhooks["desk"].secrets == [SECRET]

    def test_files_with_other_names_are_never_read(self, credentials: Path) -> None:
        """Another program's credential, binary or not, is no concern of ours."""
        (credentials / "tls.key").write_bytes(b"\xff\xfe\x00binary")
        (credentials / "DATABASE_URL").write_text("sqlite:////elsewhere.db\n")
        assert settings.load_settings().database_url is None

    def test_without_credentials_directory_the_environment_alone_counts(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PLEDGEWATCH_API_TOKEN", "from-the-environment")
        token = settings.load_settings().api_token
        assert token is not None
        assert token.get_secret_value() == "from-the-environment"

    def test_an_empty_credentials_directory_changes_nothing(self, credentials: Path) -> None:
        assert settings.load_settings().masked() == settings.Settings().masked()


class TestPrecedence:
    def test_a_credential_wins_over_the_environment_and_env_files(
        self, credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        env_file = tmp_path / "pledgewatch.env"
        env_file.write_text(
            f"PLEDGEWATCH_WEBHOOKS__OPS__URL={URL}\n"
            f"PLEDGEWATCH_WEBHOOKS__OPS__SECRET={OTHER_SECRET}\n"
            "PLEDGEWATCH_API_TOKEN=from-the-env-file\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("PLEDGEWATCH_API_TOKEN", "from-the-environment")
        write(credentials, "PLEDGEWATCH_WEBHOOKS__OPS__SECRET", SECRET)
        write(credentials, "PLEDGEWATCH_API_TOKEN", "from-the-credential")
        loaded = settings.load_settings([env_file])
        assert loaded.webhooks["ops"].url == URL  # what no credential sets still comes through
        assert loaded.webhooks["ops"].secrets == [SECRET]
        assert loaded.api_token is not None
        assert loaded.api_token.get_secret_value() == "from-the-credential"

    def test_names_match_whatever_their_case_as_environment_names_do(
        self, credentials: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PLEDGEWATCH_LOG_LEVEL", "ERROR")
        write(credentials, "pledgewatch_log_level", "debug")
        assert settings.load_settings().log_level == "DEBUG"


class TestErrors:
    def test_a_bad_value_names_the_variable_and_never_shows_the_secret(
        self, credentials: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PLEDGEWATCH_WEBHOOKS__OPS__URL", URL)
        write(credentials, "PLEDGEWATCH_WEBHOOKS__OPS__SECRET", "s3cr3t-without-prefix")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert "PLEDGEWATCH_WEBHOOKS__OPS__SECRET" in str(caught.value)
        assert "s3cr3t" not in str(caught.value)

    def test_a_misspelt_credential_is_refused_naming_it(self, credentials: Path) -> None:
        write(credentials, "PLEDGEWATCH_API_TOKNE", "t0ken-from-a-credential")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value) == (
            "PLEDGEWATCH_API_TOKNE: not a setting (did you mean PLEDGEWATCH_API_TOKEN?)"
        )

    def test_a_folder_in_place_of_a_credential_file_names_it(self, credentials: Path) -> None:
        folder = credentials / "PLEDGEWATCH_DATABASE_URL"
        folder.mkdir()
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value) == f"credential {folder}: cannot be read (Is a directory)"

    def test_a_credential_that_is_not_text_names_the_file_not_the_bytes(
        self, credentials: Path
    ) -> None:
        (credentials / "PLEDGEWATCH_API_TOKEN").write_bytes(b"tok\xe9n")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        message = str(caught.value)
        assert message == (
            f"credential {credentials / 'PLEDGEWATCH_API_TOKEN'}: not UTF-8 text (byte 3)"
        )

    def test_a_missing_credentials_directory_is_named(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "gone"))
        with pytest.raises(ConfigError, match=r"CREDENTIALS_DIRECTORY .*gone: cannot be listed"):
            settings.load_settings()


@pytest.fixture
def unreadable_credential() -> Iterator[Path]:
    """A credentials folder anyone may enter, holding a token file no one may read."""
    folder = Path(tempfile.mkdtemp(prefix="pledgewatch-credentials-"))
    try:
        folder.chmod(0o755)
        token = folder / "PLEDGEWATCH_API_TOKEN"
        token.write_text("t0p-s3cret-token\n", encoding="utf-8")
        token.chmod(0o000)
        yield token
    finally:
        shutil.rmtree(folder)


def _load_unprivileged(env_files: tuple[Path, ...] = ()) -> str:
    """Return the ConfigError of load_settings() in a child that runs as nobody if we are root.

    Root reads any file, so the permission check needs another user; forking keeps
    the loaded interpreter (the venv's Python may sit where nobody can run it).
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking with threads alive; the child takes no lock.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report through the pipe and never return into pytest
        code = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            try:
                settings.load_settings(env_files)

                message = "no error"
            except ConfigError as exc:
                message = str(exc)
            os.write(write_end, message.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return message


def test_an_unreadable_credential_file_names_it_and_hides_its_content(
    unreadable_credential: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(unreadable_credential.parent))
    assert _load_unprivileged() == (
        f"credential {unreadable_credential}: cannot be read (Permission denied)"
    )


def test_an_env_file_without_read_permission_is_named(unreadable_credential: Path) -> None:
    # The same unreadable file, given as an env file: refused before anything is parsed.
    assert _load_unprivileged((unreadable_credential,)) == (
        f"env file {unreadable_credential}: not readable (Permission denied)"
    )
