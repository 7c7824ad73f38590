"""Notifiers against real servers -- e-mail to aiosmtpd (plain, STARTTLS with a login),
Slack to a webhook recorder -- and the runner with all three channels over a fake
clock: alert once, stay quiet, remind, recover once, reopen the same GitHub issue; a
channel that times out stops none of the others; --dry-run and --no-notify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from ops.core.console import Console
from ops.core.exits import CHECK_FAILED, DONE, INCONCLUSIVE, CheckFailed, Inconclusive
from ops.environments import Notify
from ops.monitor.alerts import Alert, AlertKind
from ops.monitor.notifiers import Delivery, Refused, deliver_all, failure, retrying
from ops.monitor.notifiers.email import EmailNotifier, SmtpUnavailable
from ops.monitor.notifiers.slack import SlackNotifier
from ops.monitor.results import Status
from ops.monitor.run import MonitorReport, monitor
from ops.monitor.settings import Email
from tests.ops.monitor.delivery import (
    NAME,
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    PublicUrl,
    Silent,
    context,
    definition_text,
)
from tests.support.github import GitHubStandIn
from tests.support.invoke import run_invoke
from tests.support.webhook import Webhook
from tests.support.workspace import FakeClock

RECIPIENTS = ["oncall@example.com", "lead@example.com"]


def alert(kind: AlertKind, key: str, status: Status = Status.CRITICAL) -> Alert:
    return Alert(
        kind, key, status, "status", f"{key} answered 503", "2026-03-15T12:00:00+00:00", "1.4.0"
    )


NEW = alert(AlertKind.NEW, "availability//ready")
STILL = alert(AlertKind.REMINDER, "backups/db", Status.WARNING)
BACK = alert(AlertKind.RECOVERED, "tls/leaf")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A plain SMTP server."""
    with Mailbox() as box:
        yield box


def email_settings(box: Mailbox, **options: Any) -> dict[str, Any]:
    return {"port": box.port, "starttls": False, "recipients": RECIPIENTS, **options}


# -- e-mail ------------------------------------------------------------------------------


def test_one_message_lists_the_runs_alerts(tmp_path: Path, mailbox: Mailbox) -> None:
    probe = context(tmp_path, mailbox.env(), email=email_settings(mailbox))
    probe.served_version = "1.4.0"
    notifier = EmailNotifier(probe)
    assert notifier.missing() is None
    sent = notifier.deliver([NEW, STILL, BACK], probe)
    assert sent == "3 alert(s) in one message to 2 recipient(s)"
    [mail] = mailbox.received
    assert mail.subject == f"monitor {NAME}: 2 critical problem(s), 1 recovered"
    assert (mail.sender, mail.recipients) == ("monitor@example.com", RECIPIENTS)
    assert "new: critical availability//ready (status)\n  availability//ready answered 503" in (
        mail.text
    )
    assert "reminder: warning backups/db (status)" in mail.text
    assert "recovered: critical tls/leaf (status)" in mail.text
    assert "open since 2026-03-15T12:00:00+00:00, release 1.4.0" in mail.text
    only_recoveries = EmailNotifier(probe).message([BACK], probe)
    assert only_recoveries["Subject"] == f"monitor {NAME}: 1 recovered"


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[tuple[Mailbox, dict[str, str]]]:
    """An SMTP server requiring STARTTLS (a trustme certificate) and a login, and the
    variables of a notifier that trusts its CA and knows the credentials."""
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    with Mailbox(tls=authority, auth=True) as box:
        credentials = {"SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}
        yield box, box.env(MONITOR_CA_FILE=str(ca_file), **credentials)


def secure_delivery(tmp_path: Path, box: Mailbox, env: dict[str, str], **options: Any) -> Delivery:
    """One delivery to ``box`` (STARTTLS unless ``starttls=False``)."""
    probe = context(tmp_path, env, email=email_settings(box, **{"starttls": True, **options}))
    [delivery] = deliver_all({"email": [NEW]}, probe, dry_run=False)
    return delivery


def test_starttls_and_a_login(tmp_path: Path, secure: tuple[Mailbox, dict[str, str]]) -> None:
    box, env = secure
    delivery = secure_delivery(tmp_path, box, env)
    assert delivery == Delivery("email", True, "1 alert(s) in one message to 2 recipient(s)")
    assert [mail.subject for mail in box.received] == [f"monitor {NAME}: 1 critical problem(s)"]


def test_a_wrong_password_fails_with_the_servers_answer(
    tmp_path: Path, secure: tuple[Mailbox, dict[str, str]]
) -> None:
    box, env = secure
    refused = secure_delivery(tmp_path, box, {**env, "SMTP_PASSWORD": "not-it"})
    assert refused == Delivery(
        "email",
        False,
        f"SMTP 127.0.0.1:{box.port} refused the login "
        f"of {SMTP_USER}: 535 5.7.8 Authentication credentials invalid",
    )
    assert "not-it" not in refused.detail, "the password is never shown"
    assert box.received == []


def test_an_untrusted_certificate_or_no_starttls_fails(
    tmp_path: Path, secure: tuple[Mailbox, dict[str, str]]
) -> None:
    box, env = secure
    unverified = secure_delivery(tmp_path, box, {**env, "MONITOR_CA_FILE": ""})
    assert unverified.detail.startswith(f"SMTP 127.0.0.1:{box.port}: STARTTLS failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in unverified.detail
    cleartext = secure_delivery(tmp_path, box, env, starttls=False)
    assert cleartext.detail == (
        f"SMTP 127.0.0.1:{box.port}: SMTP AUTH extension not supported by server."
    ), "no login offered before STARTTLS"
    assert box.received == []


def test_what_is_missing_is_named(tmp_path: Path, mailbox: Mailbox) -> None:
    assert EmailNotifier(context(tmp_path, {})).missing() == "SMTP_HOST"
    no_one = context(tmp_path, mailbox.env(), email=email_settings(mailbox, recipients=[]))
    assert EmailNotifier(no_one).missing() == "[monitor.email] recipients"
    user_only = context(tmp_path, mailbox.env(SMTP_USER="monitor"), email=email_settings(mailbox))
    assert EmailNotifier(user_only).missing() == "SMTP_PASSWORD"
    with pytest.raises(ValueError, match="String should match pattern"):
        Email(sender="the monitor")
    [delivery] = deliver_all({"email": [NEW]}, no_one, dry_run=False)
    assert delivery == Delivery(
        "email", False, "not configured: [monitor.email] recipients", configured=False
    )


def test_an_unreachable_server_is_tried_again_then_named(tmp_path: Path) -> None:
    closed = Mailbox()
    closed.close()
    probe = context(tmp_path, closed.env(), email=email_settings(closed))
    with pytest.raises(SmtpUnavailable, match=rf"^SMTP 127.0.0.1:{closed.port} unreachable: "):
        EmailNotifier(probe).deliver([NEW], probe)
    [delivery] = deliver_all({"email": [NEW]}, probe, dry_run=False)
    assert delivery.detail.startswith(f"SMTP 127.0.0.1:{closed.port} unreachable: Connection")


def test_refused_recipients_are_named(tmp_path: Path, mailbox: Mailbox) -> None:
    probe = context(tmp_path, mailbox.env(), email=email_settings(mailbox))
    mailbox.refuse_recipient("lead@example.com")
    partly = EmailNotifier(probe).deliver([NEW], probe)
    assert partly == (
        "1 alert(s) in one message to 1 of 2 recipient(s); "
        "refused lead@example.com (550 5.1.1 no such mailbox)"
    )
    assert mailbox.received[0].recipients == ["oncall@example.com"]
    mailbox.refuse_recipient("oncall@example.com")
    [nobody] = deliver_all({"email": [NEW]}, probe, dry_run=False)
    assert nobody.detail == (
        f"SMTP 127.0.0.1:{mailbox.port} refused every recipient: lead@example.com (550 5.1.1 "
        "no such mailbox), oncall@example.com (550 5.1.1 no such mailbox)"
    )


def test_a_temporary_refusal_is_tried_again(tmp_path: Path, mailbox: Mailbox) -> None:
    probe = context(tmp_path, mailbox.env(), email=email_settings(mailbox))
    mailbox.answer_data("451 4.3.0 try again later")
    [delivery] = deliver_all({"email": [NEW]}, probe, dry_run=False)
    assert delivery.detail == f"SMTP 127.0.0.1:{mailbox.port} answered: 451 4.3.0 try again later"
    assert mailbox.data_attempts == 3, "tried three times"
    mailbox.answer_data("554 5.7.1 rejected as spam")
    [rejected] = deliver_all({"email": [NEW]}, probe, dry_run=False)
    assert rejected.detail.endswith("answered: 554 5.7.1 rejected as spam")
    assert mailbox.data_attempts == 4, "a permanent refusal is not tried again"


def test_retrying_stops_at_a_refusal() -> None:
    pauses: list[float] = []
    calls: list[str] = []

    def flaky() -> str:
        calls.append("flaky")
        if len(calls) < 3:
            raise TimeoutError("timed out")
        return "sent"

    assert retrying(flaky, sleep=pauses.append) == "sent"
    assert pauses == [2.0, 2.0]

    def refused() -> str:
        calls.append("refused")
        raise Refused("bad credentials")

    with pytest.raises(Refused):
        retrying(refused, sleep=pauses.append)
    assert calls.count("refused") == 1
    assert failure(TimeoutError("timed out")) == "TimeoutError: timed out"
    assert failure(Refused("bad credentials")) == "bad credentials"


# -- Slack -------------------------------------------------------------------------------


def test_slack_names_its_missing_webhook(tmp_path: Path) -> None:
    probe = context(tmp_path, {})
    assert SlackNotifier(probe).missing() == "SLACK_WEBHOOK_URL"
    quiet = probe.environment.model_copy(update={"notify": Notify(slack_webhook_env=None)})
    probe.environment = quiet
    assert SlackNotifier(probe).missing() == "[notify] slack_webhook_env"


def test_slack_gets_one_summary_of_new_reminder_and_recovered(
    tmp_path: Path, webhook: Webhook
) -> None:
    probe = context(tmp_path, {"SLACK_WEBHOOK_URL": webhook.url})
    probe.served_version = "1.4.0"
    [delivery] = deliver_all({"slack": [NEW, STILL, BACK]}, probe, dry_run=False)
    assert delivery == Delivery("slack", True, "3 alert(s) in one message")
    [text] = webhook.texts()
    assert text.splitlines() == [
        f":x: *monitor {NAME}: 2 critical problem(s), 1 recovered*",
        "*new critical availability//ready:* status: availability//ready answered 503",
        "*still warning backups/db:* status: backups/db answered 503",
        "*recovered critical tls/leaf:* status: tls/leaf answered 503",
        "*release:* 1.4.0",
    ]
    webhook.status = 500
    [refused] = deliver_all({"slack": [BACK]}, probe, dry_run=False)
    assert refused == Delivery("slack", False, "Slack webhook answered 500")
    assert len(webhook.received) == 4, "tried three times"
    assert webhook.texts()[-1].startswith(f":white_check_mark: *monitor {NAME}: 1 recovered*")


# -- the runner with every channel ---------------------------------------------------------


class World:
    """An environment watched by the monitor: its public URL, its state file, and where its
    alerts go (Slack, e-mail, GitHub), on a fake clock six hours a run."""

    def __init__(
        self,
        tmp_path: Path,
        slack_url: str,
        mailbox: Mailbox,
        github: GitHubStandIn,
        **monitor: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.mailbox = mailbox
        self.public = PublicUrl()
        self.clock = FakeClock()
        self.state_file = tmp_path / "state" / "monitor-state.json"
        self.report_file = tmp_path / "report.json"
        (tmp_path / "envs").mkdir()
        self.config(**monitor)
        self.env = {
            "DEPLOY_ENVIRONMENTS_DIR": str(tmp_path / "envs"),
            "SLACK_WEBHOOK_URL": slack_url,
            **mailbox.env(),
            **github.env(),
        }

    def config(self, **monitor: Any) -> None:
        """(Re)write the definition: ``[monitor.<section>]`` values over the defaults."""
        text = definition_text(
            self.public.url, self.tmp_path / "state", email=email_settings(self.mailbox), **monitor
        )
        (self.tmp_path / "envs" / f"{NAME}.toml").write_text(text)

    def run(self, *, hours: float = 6, **options: Any) -> MonitorReport:
        """One run (raising what its verdict means), then the clock moves on."""
        try:
            return monitor(
                NAME,
                self.env,
                Console(report=self.report_file),
                clock=self.clock,
                sleep=lambda _seconds: None,
                **options,
            )
        finally:
            self.clock.advance(hours=hours)

    def failing(self, **options: Any) -> None:
        """A run while /ready fails: a critical finding, exit 1."""
        self.public.ready = False
        with pytest.raises(CheckFailed, match=r"^critical: availability//ready: answered 503"):
            self.run(**options)

    def passing(self, **options: Any) -> MonitorReport:
        """A run while everything is healthy: exit 0."""
        self.public.ready = True
        return self.run(**options)

    def report(self) -> dict[str, Any]:
        """The last JSON report written."""
        loaded: dict[str, Any] = json.loads(self.report_file.read_text())
        return loaded

    def saved(self) -> dict[str, Any]:
        """The state file."""
        loaded: dict[str, Any] = json.loads(self.state_file.read_text())
        return loaded

    def __enter__(self) -> World:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.public.close()


@pytest.fixture
def world(
    tmp_path: Path, webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn
) -> Iterator[World]:
    """The watched environment, every channel recording."""
    with World(tmp_path, webhook.url, mailbox, github) as watched:
        yield watched


def heard(webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn) -> tuple[int, int, int]:
    """How many Slack messages, e-mails and GitHub changes so far."""
    return len(webhook.received), len(mailbox.received), len(github.writes())


def test_alert_once_remind_recover_once_and_reopen_the_same_issue(
    world: World, webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn
) -> None:
    world.failing()
    assert heard(webhook, mailbox, github) == (1, 1, 1), "one alert on each channel"
    [issue] = github.issues.values()
    assert issue.state == "open"
    assert "new critical availability//ready" in webhook.texts()[0]
    assert mailbox.received[0].subject == f"monitor {NAME}: 1 critical problem(s)"
    report = world.report()
    assert (report["verdict"], [a["kind"] for a in report["alerts"]]) == ("critical", ["new"])
    assert all(delivery["sent"] for delivery in report["deliveries"])
    assert list(world.saved()["problems"]) == ["availability//ready"], "saved before exit 1"

    world.failing()
    world.failing()
    world.failing()
    assert heard(webhook, mailbox, github) == (1, 1, 1), "18 hours later: nothing new"

    world.failing()
    assert heard(webhook, mailbox, github) == (2, 2, 2), "a day later: one reminder"
    assert "still critical availability//ready" in webhook.texts()[1]
    assert issue.comments[0].startswith("**reminder**")

    world.passing()
    assert heard(webhook, mailbox, github) == (2, 2, 2), "one pass is not a recovery"
    world.passing()
    assert heard(webhook, mailbox, github) == (3, 3, 4), "recovered: one message, issue closed"
    assert webhook.texts()[2].startswith(f":white_check_mark: *monitor {NAME}: 1 recovered*")
    assert (issue.state, issue.comments[-1].split(":")[0]) == ("closed", "**recovered**")
    assert world.saved()["problems"] == {}

    world.failing()
    assert list(github.issues) == [1], "the same issue, not a new one"
    assert (issue.state, issue.comments[-1].split(":")[0]) == ("open", "**new**")
    assert heard(webhook, mailbox, github) == (4, 4, 6)


def test_a_channel_that_times_out_stops_none_of_the_others(
    tmp_path: Path, mailbox: Mailbox, github: GitHubStandIn
) -> None:
    quick = {"request_timeout_seconds": 0.5}  # every channel's time-out; keeps this test quick
    with Silent() as silent, World(tmp_path, silent.url, mailbox, github, monitor=quick) as watched:
        watched.failing()
    deliveries = {d["channel"]: (d["sent"], d["detail"]) for d in watched.report()["deliveries"]}
    assert deliveries == {
        "slack": (False, "Slack webhook unreachable: ReadTimeout"),
        "email": (True, "1 alert(s) in one message to 2 recipient(s)"),
        "github": (True, "#1 created (availability//ready)"),
    }
    assert len(mailbox.received) == 1
    assert list(github.issues) == [1]
    assert silent.url not in json.dumps(watched.report()), "the webhook URL is a secret"


def test_a_dry_run_sends_nothing_and_keeps_the_state(
    world: World, webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn
) -> None:
    world.failing(dry_run=True)
    assert not world.state_file.exists()
    world.failing()
    before = world.state_file.read_bytes()
    sent, asked = heard(webhook, mailbox, github), len(github.requests)
    world.clock.advance(hours=48)  # a real run would remind now
    world.failing(dry_run=True)
    assert world.state_file.read_bytes() == before, "the state file is untouched"
    assert heard(webhook, mailbox, github) == sent, "nothing was sent"
    assert len(github.requests) == asked, "GitHub was not even asked"
    details = [d["detail"] for d in world.report()["deliveries"]]
    assert details[0].startswith(f"dry run: monitor {NAME}: 1 critical problem(s) | still ")
    assert world.report()["dry_run"] is True


def test_no_notify_sends_nothing_and_keeps_the_alerts_for_a_later_run(
    world: World, webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn
) -> None:
    world.failing(notify=False)
    assert heard(webhook, mailbox, github) == (0, 0, 0)
    saved = world.saved()
    assert (saved["problems"], saved["runs"]) == ({}, 1), "the heartbeat, no alert bookkeeping"
    [delivery] = world.report()["deliveries"]
    assert (delivery["channel"], delivery["detail"]) == ("all", "--no-notify: nothing sent")
    world.failing()
    assert heard(webhook, mailbox, github) == (1, 1, 1), "the next run still alerts"


def test_warnings_only_exit_3_after_reporting_and_all_ok_exits_0(
    tmp_path: Path, webhook: Webhook, mailbox: Mailbox, github: GitHubStandIn
) -> None:
    # any real request takes longer than a microsecond: a warning on both paths
    slow = {"warning_ms": 0.001, "budget_ms": 60000}
    with World(tmp_path, webhook.url, mailbox, github, availability=slow) as watched:
        with pytest.raises(Inconclusive, match=r"^warning: availability//health: 200 in ") as err:
            watched.run()
        assert err.value.exit_code == INCONCLUSIVE
        assert watched.report()["verdict"] == "warning"
        saved = sorted(watched.saved()["problems"])
        assert saved == ["availability//health", "availability//ready"]
        assert heard(webhook, mailbox, github) == (1, 0, 2), "a warning never e-mails"
        watched.config(availability={})
        healthy = watched.passing()  # returns: exit 0
        assert (healthy.verdict, healthy.alerts) == (Status.OK, [])
        assert watched.report()["verdict"] == "ok"


def test_the_exit_code_of_invoke_monitor(world: World) -> None:
    world.public.ready = False
    failing = run_invoke("monitor", "--env", NAME, "--no-notify", env=world.env, timeout=120)
    assert failing.returncode == CHECK_FAILED, failing.stderr
    assert "critical: availability//ready: answered 503 (redis failed)" in failing.stderr
    world.public.ready = True
    passing = run_invoke("monitor", "--env", NAME, "--no-notify", env=world.env, timeout=120)
    assert passing.returncode == DONE, passing.stdout + passing.stderr
