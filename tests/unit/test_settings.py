"""daemon/settings/: settings from the environment and env files, errors and masking."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from daemon import settings
from daemon.model import durations
from daemon.model.schedule import Policy
from daemon.settings import ConfigError

# "whsec_" and the base64 of "secret-key-for-the-unit-tests".
SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGhlLXVuaXQtdGVzdHM="
SLACK_TOKEN = "XyZ9aBcDeFgHiJkLmNoPqRsT"
SLACK_URL = f"https://hooks.slack.com/services/T0001234/B0005678/{SLACK_TOKEN}"


SetEnv = Callable[..., None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Set PLEDGEWATCH_<name> for one test (the conftest strips every other one)."""

    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"PLEDGEWATCH_{name}", value)

    return set_


def env_file(folder: Path, name: str, **values: str) -> Path:
    path = folder / name
    path.write_text(
        "".join(f"PLEDGEWATCH_{key}={value}\n" for key, value in values.items()), encoding="utf-8"
    )
    return path


class TestDefaults:
    def test_it_uses_the_documented_defaults(self) -> None:
        loaded = settings.load_settings()
        assert (loaded.http_host, loaded.http_port, loaded.timezone) == ("127.0.0.1", 8787, "UTC")
        assert loaded.policy == Policy(
            reminder_offsets=(timedelta(days=30), timedelta(days=7), timedelta(days=1)),
            overdue_repeat=timedelta(days=7),
        )
        assert [durations.format_duration(d) for d in loaded.retry_schedule] == [
            "5s",
            "5m",
            "30m",
            "2h",
            "5h",
            "10h",
            "10h",
        ]
        assert loaded.allow_private_targets is False
        assert (loaded.log_level, loaded.log_format) == ("INFO", "text")
        assert loaded.webhooks == {}

    def test_it_puts_the_database_in_var_without_systemd(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("STATE_DIRECTORY", raising=False)
        assert settings.load_settings().effective_database_url() == "sqlite:///var/pledgewatch.db"

    def test_it_puts_the_database_in_the_systemd_state_directory(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pledgewatch:/var/lib/other")
        assert (
            settings.load_settings().effective_database_url()
            == "sqlite:////var/lib/pledgewatch/pledgewatch.db"
        )


class TestEnvironment:
    def test_it_reads_durations_and_lists(self, env: SetEnv) -> None:
        env(
            REMINDER_OFFSETS="14d, 2d",
            OVERDUE_REPEAT="0",
            RETRY_SCHEDULE="1s,1m",
            LOG_LEVEL="debug",
        )
        loaded = settings.load_settings()
        assert loaded.policy == Policy(
            reminder_offsets=(timedelta(days=14), timedelta(days=2)), overdue_repeat=timedelta(0)
        )
        assert loaded.retry_schedule == (timedelta(seconds=1), timedelta(minutes=1))
        assert loaded.log_level == "DEBUG"

    def test_it_reads_a_webhook_block(self, env: SetEnv) -> None:
        env(
            WEBHOOKS__OPS__URL="https://hooks.example.com/pledges",
            WEBHOOKS__OPS__SECRET=SECRET,
            WEBHOOKS__OPS__EVENTS="commitment.due, commitment.overdue",
            WEBHOOKS__OPS__TAGS="syria,russia",
            WEBHOOKS__OPS__HEADERS='{"X-Team": "desk"}',
            WEBHOOKS__OPS__TIMEOUT="30s",
        )
        hook = settings.load_settings().webhooks["ops"]
        assert hook.url == "https://hooks.example.com/pledges"
        assert hook.secret is not None and hook.secret.get_secret_value() == SECRET
        assert hook.format == "json"
        assert hook.events == ("commitment.due", "commitment.overdue")
        assert hook.tags == ("syria", "russia")
        assert hook.headers == {"X-Team": "desk"}
        assert hook.timeout == timedelta(seconds=30)

    def test_it_reads_several_webhook_blocks_with_their_defaults(self, env: SetEnv) -> None:
        env(
            WEBHOOKS__OPS__URL="https://ops.example.com/a",
            WEBHOOKS__DESK__URL="https://desk.example.com/b",
        )
        hooks = settings.load_settings().webhooks
        assert sorted(hooks) == ["desk", "ops"]
        assert (
            hooks["desk"].secret,
            hooks["desk"].events,
            hooks["desk"].tags,
            hooks["desk"].headers,
        ) == (None, (), (), {})
        assert hooks["desk"].timeout == timedelta(seconds=15)


class TestEnvFiles:
    def test_it_reads_an_env_file(self, tmp_path: Path) -> None:
        path = env_file(
            tmp_path, "a.env", OVERDUE_REPEAT="1d", WEBHOOKS__OPS__URL="https://ops.example.com/a"
        )
        loaded = settings.load_settings([path])
        assert loaded.overdue_repeat == timedelta(days=1)
        assert loaded.webhooks["ops"].url == "https://ops.example.com/a"

    def test_a_later_file_wins_over_an_earlier_one(self, tmp_path: Path) -> None:
        first = env_file(tmp_path, "a.env", OVERDUE_REPEAT="1d", HTTP_PORT="9000")
        second = env_file(tmp_path, "b.env", OVERDUE_REPEAT="2d")
        loaded = settings.load_settings([first, str(second)])
        assert loaded.overdue_repeat == timedelta(days=2)
        assert loaded.http_port == 9000

    def test_the_real_environment_wins_over_files(self, tmp_path: Path, env: SetEnv) -> None:
        first = env_file(tmp_path, "a.env", OVERDUE_REPEAT="1d")
        second = env_file(tmp_path, "b.env", OVERDUE_REPEAT="2d")
        env(OVERDUE_REPEAT="3d")
        assert settings.load_settings([first, second]).overdue_repeat == timedelta(days=3)

    def test_a_webhook_block_merges_across_a_file_and_the_environment(
        self, tmp_path: Path, env: SetEnv
    ) -> None:
        path = env_file(
            tmp_path,
            "a.env",
            WEBHOOKS__OPS__URL="https://ops.example.com/a",
            WEBHOOKS__OPS__TIMEOUT="5s",
        )
        env(WEBHOOKS__OPS__SECRET=SECRET, WEBHOOKS__OPS__TIMEOUT="20s")
        hook = settings.load_settings([path]).webhooks["ops"]
        assert hook.url == "https://ops.example.com/a"
        assert hook.secret is not None
        assert hook.timeout == timedelta(seconds=20)

    def test_it_names_a_missing_env_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere.env"
        with pytest.raises(ConfigError, match="not found") as caught:
            settings.load_settings([missing])
        assert str(missing) in str(caught.value)

    def test_it_names_a_folder_given_as_an_env_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as caught:
            settings.load_settings([tmp_path])
        assert str(tmp_path) in str(caught.value)


class TestInvalidValues:
    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("OVERDUE_REPEAT", "soon"),
            ("REMINDER_OFFSETS", "30d,sometime"),
            ("RETRY_SCHEDULE", "5s,5x"),
            ("TIMEZONE", "Mars/Olympus_Mons"),
            ("HTTP_PORT", "99999"),
            ("HTTP_PORT", "eighty"),
            ("LOG_LEVEL", "loud"),
            ("LOG_FORMAT", "xml"),
            ("ALLOW_PRIVATE_TARGETS", "perhaps"),
        ],
    )
    def test_it_names_the_variable_with_a_bad_value(
        self, env: SetEnv, variable: str, value: str
    ) -> None:
        env(**{variable: value})
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value).startswith(f"PLEDGEWATCH_{variable}: ")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("URL", "ftp://hooks.example.com/pledges"),
            ("URL", "not a url"),
            ("EVENTS", "commitment.due,commitment.nope"),
            ("HEADERS", "{not json"),
            ("HEADERS", "[1, 2]"),
            ("TIMEOUT", "a while"),
            ("FORMAT", "yaml"),
        ],
    )
    def test_it_names_the_webhook_variable_with_a_bad_value(
        self, env: SetEnv, field: str, value: str
    ) -> None:
        env(
            **{
                "WEBHOOKS__OPS__URL": "https://hooks.example.com/pledges",
                f"WEBHOOKS__OPS__{field}": value,
            }
        )
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value).startswith(f"PLEDGEWATCH_WEBHOOKS__OPS__{field}: ")

    def test_it_names_a_webhook_block_without_a_url(self, env: SetEnv) -> None:
        env(WEBHOOKS__OPS__SECRET=SECRET)
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_WEBHOOKS__OPS__URL: ") as caught:
            settings.load_settings()
        assert SECRET not in str(caught.value)

    def test_it_names_an_unknown_webhook_variable(self, env: SetEnv) -> None:
        env(WEBHOOKS__OPS__URL="https://hooks.example.com/pledges", WEBHOOKS__OPS__RETRIES="3")
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_WEBHOOKS__OPS__RETRIES: "):
            settings.load_settings()

    def test_it_keeps_the_console_name_for_the_console_sink(self, env: SetEnv) -> None:
        env(WEBHOOKS__CONSOLE__URL="https://hooks.example.com/pledges")
        with pytest.raises(ConfigError, match="'console' is reserved"):
            settings.load_settings()

    def test_it_reports_every_bad_variable_at_once(self, env: SetEnv) -> None:
        env(OVERDUE_REPEAT="soon", HTTP_PORT="-1")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert "PLEDGEWATCH_OVERDUE_REPEAT" in str(caught.value)
        assert "PLEDGEWATCH_HTTP_PORT" in str(caught.value)

    @pytest.mark.parametrize(
        "secret",
        ["hunter2-top-secret-value", "whsec_!!!top-secret-value!!!"],
        ids=["no-prefix", "not-base64"],
    )
    def test_it_names_a_bad_secret_without_repeating_it(self, env: SetEnv, secret: str) -> None:
        env(WEBHOOKS__OPS__URL="https://hooks.example.com/pledges", WEBHOOKS__OPS__SECRET=secret)
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_WEBHOOKS__OPS__SECRET: ") as caught:
            settings.load_settings()
        message = str(caught.value)
        assert secret not in message
        assert "top-secret" not in message

    def test_it_names_a_bad_url_without_repeating_its_token(self, env: SetEnv) -> None:
        env(WEBHOOKS__OPS__URL=f"ftp://hooks.slack.com/services/{SLACK_TOKEN}")
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_WEBHOOKS__OPS__URL: ") as caught:
            settings.load_settings()
        assert SLACK_TOKEN not in str(caught.value)

    def test_it_names_a_bad_value_read_from_an_env_file(self, tmp_path: Path) -> None:
        path = env_file(tmp_path, "a.env", OVERDUE_REPEAT="fortnightly")
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_OVERDUE_REPEAT: "):
            settings.load_settings([path])

    def test_it_names_a_duration_too_long_to_hold(self, env: SetEnv) -> None:
        env(OVERDUE_REPEAT="1000000000d")
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_OVERDUE_REPEAT: "):
            settings.load_settings()

    def test_it_names_a_whole_webhooks_variable_that_is_not_json(self, env: SetEnv) -> None:
        env(WEBHOOKS="ops=https://hooks.example.com/pledges")
        with pytest.raises(ConfigError, match="PLEDGEWATCH_WEBHOOKS"):
            settings.load_settings()


class TestUnknownVariables:
    """A PLEDGEWATCH_ variable that is no setting is refused, not ignored (#11)."""

    @pytest.mark.parametrize(
        ("variable", "hint"),
        [
            ("TIMEZOEN", "PLEDGEWATCH_TIMEZONE"),
            ("DB_URL", "PLEDGEWATCH_DATABASE_URL"),
            ("WEBHOOK_CONCURENCY", "PLEDGEWATCH_WEBHOOK_CONCURRENCY"),
            ("WEBHOOK__Z__URL", "PLEDGEWATCH_WEBHOOKS__Z__URL"),
            ("WEBHOOKS_OPS_URL", "PLEDGEWATCH_WEBHOOKS__OPS__URL"),
            ("WEBHOOKS__OPS__URLL", "PLEDGEWATCH_WEBHOOKS__OPS__URL"),
            ("WEBHOOKS__OPS__SECRETS", "PLEDGEWATCH_WEBHOOKS__OPS__SECRET"),
            ("WEBHOOKS__OPS__URL__X", "PLEDGEWATCH_WEBHOOKS__OPS__URL"),
            ("HTTP_PORT__X", "PLEDGEWATCH_HTTP_PORT"),
        ],
    )
    def test_it_names_the_variable_and_the_closest_setting(
        self, env: SetEnv, variable: str, hint: str
    ) -> None:
        env(**{variable: "https://hooks.example.com/pledges"})
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value) == (
            f"PLEDGEWATCH_{variable}: not a setting (did you mean {hint}?)"
        )

    def test_with_nothing_close_it_names_the_variable_alone(self, env: SetEnv) -> None:
        env(COLOUR="red")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value) == "PLEDGEWATCH_COLOUR: not a setting"

    def test_an_unknown_webhook_field_with_nothing_close_lists_the_fields(
        self, env: SetEnv
    ) -> None:
        env(WEBHOOKS__OPS__URL="https://hooks.example.com/pledges", WEBHOOKS__OPS__RETRIES="3")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert str(caught.value) == (
            "PLEDGEWATCH_WEBHOOKS__OPS__RETRIES: not a setting "
            "(a webhook takes URL, SECRET, FORMAT, EVENTS, TAGS, HEADERS, TIMEOUT)"
        )

    def test_it_refuses_a_misspelt_variable_in_an_env_file(self, tmp_path: Path) -> None:
        path = env_file(tmp_path, "a.env", TIMEZONE="Europe/Moscow", TIMEZOEN="Europe/Moscow")
        with pytest.raises(ConfigError, match=r"^PLEDGEWATCH_TIMEZOEN: not a setting \(did you"):
            settings.load_settings([path])

    def test_it_names_every_unknown_variable_at_once(self, env: SetEnv) -> None:
        env(TIMEZOEN="UTC", LOGLEVEL="DEBUG")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert "PLEDGEWATCH_TIMEZOEN: " in str(caught.value)
        assert "PLEDGEWATCH_LOGLEVEL: not a setting (did you mean PLEDGEWATCH_LOG_LEVEL?)" in str(
            caught.value
        )

    def test_names_match_in_any_case_as_pydantic_settings_reads_them(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("pledgewatch_timezone", "Europe/Moscow")
        assert settings.load_settings().timezone == "Europe/Moscow"
        monkeypatch.setenv("pledgewatch_timezoen", "Europe/Moscow")
        with pytest.raises(ConfigError, match=r"^pledgewatch_timezoen: .*PLEDGEWATCH_TIMEZONE\?"):
            settings.load_settings()

    def test_the_test_suites_own_variable_is_not_refused(self, env: SetEnv) -> None:
        env(TEST_POSTGRES="postgresql://postgres@127.0.0.1:5432/postgres")
        assert settings.load_settings().timezone == "UTC"

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("WEBHOOKS", '{"ops": {"url": "https://hooks.example.com/pledges"}}'),
            ("WEBHOOKS__OPS", '{"url": "https://hooks.example.com/pledges"}'),
            ("WEBHOOKS__OPS__HEADERS__X_TEAM", "desk"),
        ],
        ids=["all-webhooks-as-json", "one-webhook-as-json", "one-header"],
    )
    def test_the_other_webhook_forms_are_settings(
        self, env: SetEnv, variable: str, value: str
    ) -> None:
        env(WEBHOOKS__OPS__URL="https://hooks.example.com/pledges", **{variable: value})
        assert list(settings.load_settings().webhooks) == ["ops"]

    def test_every_variable_of_the_example_env_file_is_a_setting(self, tmp_path: Path) -> None:
        example = Path(__file__).resolve().parents[2] / "config" / "pledgewatch.env.example"
        lines = example.read_text(encoding="utf-8").splitlines()
        active = [line.removeprefix("#") for line in lines if line.startswith("#PLEDGEWATCH_")]
        assert len(active) > 20
        path = tmp_path / "example.env"
        path.write_text("\n".join(active) + "\n", encoding="utf-8")
        assert list(settings.load_settings([path]).webhooks) == ["desk"]


class TestMasked:
    def test_it_never_shows_secrets_tokens_passwords_or_header_values(self, env: SetEnv) -> None:
        env(
            DATABASE_URL="postgresql+psycopg://pledgewatch:db-pa55word@db.example.com:5432/pledges",
            WEBHOOKS__SLACK__URL=SLACK_URL,
            WEBHOOKS__SLACK__SECRET=SECRET,
            WEBHOOKS__SLACK__HEADERS='{"Authorization": "Bearer header-token-value"}',
            WEBHOOKS__QUERY__URL="https://receiver.example.com/hook?token=query-token-value&team=desk",
        )
        shown = json.dumps(settings.load_settings().masked())
        for secret in (
            SECRET,
            SECRET.removeprefix("whsec_"),
            SLACK_TOKEN,
            "db-pa55word",
            "header-token-value",
            "query-token-value",
        ):
            assert secret not in shown

    def test_it_shows_enough_to_tell_webhooks_apart(self, env: SetEnv) -> None:
        env(
            DATABASE_URL="postgresql+psycopg://pledgewatch:db-pa55word@db.example.com:5432/pledges",
            WEBHOOKS__SLACK__URL=SLACK_URL,
            WEBHOOKS__SLACK__SECRET=SECRET,
            WEBHOOKS__SLACK__HEADERS='{"Authorization": "Bearer header-token-value"}',
            WEBHOOKS__SLACK__EVENTS="commitment.due",
        )
        masked = settings.load_settings().masked()
        assert (
            masked["database_url"]
            == "postgresql+psycopg://pledgewatch:***@db.example.com:5432/pledges"
        )
        assert masked["webhooks"] == {
            "slack": {
                "url": "https://hooks.slack.com/services/***/***/***",
                "secret": "********",
                "format": "json",
                "events": ["commitment.due"],
                "tags": [],
                "headers": {"Authorization": "********"},
                "timeout": "15s",
            }
        }
        assert (masked["reminder_offsets"], masked["overdue_repeat"]) == ("30d,7d,1d", "7d")

    def test_it_says_notices_go_to_the_console_without_webhooks(self) -> None:
        assert list(settings.load_settings().masked()["webhooks"]) == [settings.CONSOLE]


class TestMaskUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://hooks.example.com/pledges", "https://hooks.example.com/pledges"),
            ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
            (SLACK_URL, "https://hooks.slack.com/services/***/***/***"),
            (
                "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWx",
                "https://discord.com/api/webhooks/***/***",
            ),
            (
                "https://receiver.example.com/hook?token=abc&team=desk",
                "https://receiver.example.com/hook?token=***&team=***",
            ),
            (
                "https://user:pa55@receiver.example.com/hook",
                "https://***@receiver.example.com/hook",
            ),
        ],
        ids=["plain", "port", "slack", "discord", "query", "userinfo"],
    )
    def test_it_keeps_scheme_and_host_and_masks_tokens(self, url: str, expected: str) -> None:
        assert settings.mask_url(url) == expected

    def test_it_keeps_an_ipv6_host_readable(self) -> None:
        assert settings.mask_url("http://[::1]:8080/hook") == "http://[::1]:8080/hook"

    def test_it_hides_a_database_password(self) -> None:
        masked = settings.mask_database_url("postgresql://pledgewatch:s3cret-pw@db/pledges")
        assert "s3cret-pw" not in masked
        assert masked == "postgresql://pledgewatch:***@db/pledges"


class TestWebhookWants:
    def hook(self, **fields: object) -> settings.WebhookSettings:
        return settings.WebhookSettings(url="https://hooks.example.com/pledges", **fields)  # type: ignore[arg-type]

    def test_a_webhook_without_filters_takes_everything(self) -> None:
        assert self.hook().wants("commitment.reminder", ())

    def test_it_takes_only_the_events_it_names(self) -> None:
        hook = self.hook(events="commitment.due,commitment.overdue")
        assert hook.wants("commitment.due", ())
        assert not hook.wants("commitment.reminder", ())

    def test_it_takes_only_pledges_with_one_of_its_tags(self) -> None:
        hook = self.hook(tags="syria, ukraine")
        assert hook.wants("commitment.due", ("trade", "syria"))
        assert not hook.wants("commitment.due", ("trade",))
        assert not hook.wants("commitment.due", ())


class TestDelivery:
    def test_several_secrets_are_read_for_a_rotation(self, env: SetEnv) -> None:
        new = "whsec_bmV3IHNlY3JldCBmb3Igcm90YXRpb24="
        env(WEBHOOKS__OPS__URL="https://example.org/h", WEBHOOKS__OPS__SECRET=f"{SECRET} {new}")
        assert settings.load_settings().webhooks["ops"].secrets == [SECRET, new]

    def test_a_bad_second_secret_is_named_by_position_not_shown(self, env: SetEnv) -> None:
        env(WEBHOOKS__OPS__URL="https://example.org/h", WEBHOOKS__OPS__SECRET=f"{SECRET},hunter22")
        with pytest.raises(ConfigError) as caught:
            settings.load_settings()
        assert "PLEDGEWATCH_WEBHOOKS__OPS__SECRET" in str(caught.value)
        assert "secret 2" in str(caught.value)
        assert "hunter22" not in str(caught.value) and SECRET not in str(caught.value)

    def test_the_allow_list_is_a_list_of_networks(self, env: SetEnv) -> None:
        env(ALLOWED_TARGETS="10.20.0.0/16, ::1/128")
        assert [str(n) for n in settings.load_settings().allowed_targets] == [
            "10.20.0.0/16",
            "::1/128",
        ]

    def test_a_bad_network_is_named(self, env: SetEnv) -> None:
        env(ALLOWED_TARGETS="10.20.0.0/33")
        with pytest.raises(ConfigError, match="PLEDGEWATCH_ALLOWED_TARGETS"):
            settings.load_settings()

    @pytest.mark.parametrize("name", ["MAX_CONCURRENCY", "WEBHOOK_CONCURRENCY"])
    def test_concurrency_must_be_at_least_one(self, env: SetEnv, name: str) -> None:
        env(**{name: "0"})
        with pytest.raises(ConfigError, match=f"PLEDGEWATCH_{name}"):
            settings.load_settings()

    @pytest.mark.parametrize("fmt", ["json", "slack", "discord", "teams", "cloudevents"])
    def test_every_format_is_accepted(self, env: SetEnv, fmt: str) -> None:
        env(WEBHOOKS__OPS__URL="https://example.org/h", WEBHOOKS__OPS__FORMAT=fmt)
        assert settings.load_settings().webhooks["ops"].format == fmt

    def test_an_unknown_format_is_named(self, env: SetEnv) -> None:
        env(WEBHOOKS__OPS__URL="https://example.org/h", WEBHOOKS__OPS__FORMAT="telegram")
        with pytest.raises(ConfigError, match="PLEDGEWATCH_WEBHOOKS__OPS__FORMAT"):
            settings.load_settings()


def test_mask_url_hides_a_short_token_in_the_path() -> None:
    masked = settings.mask_url("https://hooks.zapier.com/hooks/catch/1234567/bq2ax9k/")
    assert "1234567" not in masked and "bq2ax9k" not in masked
    assert masked.startswith("https://hooks.zapier.com/hooks/catch/")


class TestCatchUp:
    def test_the_catch_up_policy_and_its_grace_reach_the_model(self, env: SetEnv) -> None:
        env(CATCH_UP="all", CATCH_UP_GRACE="90s")
        policy = settings.load_settings().policy
        assert (policy.catch_up, policy.grace) == ("all", timedelta(seconds=90))

    def test_an_unknown_catch_up_policy_is_named(self, env: SetEnv) -> None:
        env(CATCH_UP="everything")
        with pytest.raises(ConfigError, match="PLEDGEWATCH_CATCH_UP"):
            settings.load_settings()


def test_the_page_token_is_a_setting_and_is_shown_masked(env: SetEnv) -> None:
    env(PAGE_TOKEN="a-page-token-1234567890")
    loaded = settings.load_settings()
    assert loaded.page_token is not None
    assert loaded.page_token.get_secret_value() == "a-page-token-1234567890"
    assert loaded.masked()["page_token"] == "********"
    assert "a-page-token" not in json.dumps(loaded.masked())
    assert settings.Settings(page_token=None).masked()["page_token"] is None
