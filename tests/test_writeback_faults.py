"""The webhook push against a real receiver on loopback that misbehaves: random 500s, 429 with
Retry-After, slow answers, dropped connections; kill -9 of the exporter at several points and a
re-run; a wrong secret; a 4xx; the time bound; two exports at once; a full disk for the journal.

After every scenario the receiver must hold every customer's latest fields, none missing, and
a duplicate delivery must carry the key (and the bytes) of the first one. The fault table of the
run is printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from small_disk import mount_tmpfs
from writeback_receiver import Faults, Receiver

from serving.writeback.fields import load_mapping
from serving.writeback.journal import Journal, state_dir
from serving.writeback.webhook import RetryPolicy, deliver, export_webhook

pytestmark = pytest.mark.slow

SECRET = "test-webhook-secret-4f9a1c2e"
LIFECYCLE = Path(sys.executable).with_name("lifecycle")
FULL_DISK = Path("/tmp/h7-export/full")
FAST = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.5, timeout=0.5, max_seconds=120)
TABLE: list[dict[str, object]] = []


@pytest.fixture(scope="module")
def scores(writeback_scores: pd.DataFrame) -> pd.DataFrame:
    return writeback_scores.copy()  # made once per session (conftest.py)


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> None:
    yield
    if TABLE:
        head = (
            "scenario",
            "faults injected",
            "retries",
            "batches delivered",
            "duplicates dropped",
            "customers missing",
        )
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(row[h]) for h in head) + " |" for row in TABLE]
        print("\n\nFault-test table\n" + "\n".join(lines))


def missing_or_stale(receiver: Receiver, scores: pd.DataFrame) -> int:
    """Customers whose latest fields the receiver does not hold (checked against the frame
    itself, not through the exporter's own rendering); fails on any extra customer."""
    assert set(receiver.state) <= set(scores["customer_id"])
    bad = 0
    for row in scores.itertuples(index=False):
        got = receiver.state.get(row.customer_id)
        if got is None:
            bad += 1
            continue
        p = row.churn_probability
        same_p = (
            got["churn_probability"] is None
            if math.isnan(p)
            else (got["churn_probability"] == pytest.approx(p, abs=1.01e-4))  # kept off 0 and 1
        )
        same = (
            same_p
            and got["stage"] == row.stage
            and got["priority_tier"] == row.priority_tier
            and got["recommended_action"] == row.recommended_action
            and got["predicted_value"] == pytest.approx(row.predicted_value, abs=0.0051)
            and got["reasons"] == list(row.reasons)
        )
        bad += not same
    return bad


def assert_keys_match_bodies(receiver: Receiver) -> None:
    """Same idempotency key <=> same bytes, across retries and re-runs."""
    bodies, keys = defaultdict(set), defaultdict(set)
    for key, body, _, _ in receiver.seen:
        bodies[key].add(body)
        keys[body].add(key)
    assert all(len(v) == 1 for v in bodies.values())
    assert all(len(v) == 1 for v in keys.values())
    assert receiver.stats["duplicate_key_other_body"] == 0


def record(scenario: str, receiver: Receiver, retries: int, missing: int, kills: int = 0) -> None:
    TABLE.append(
        {
            "scenario": scenario,
            "faults injected": receiver.stats["faults"]
            + receiver.stats["rejected_422"]
            + receiver.stats["bad_signature"]
            + kills,
            "retries": retries,
            "batches delivered": receiver.stats["batches_applied"],
            "duplicates dropped": receiver.stats["duplicates_dropped"],
            "customers missing": missing,
        }
    )


def cli(args: list[str], secret: str = SECRET) -> subprocess.Popen:
    env = {**os.environ, "LIFECYCLE_WEBHOOK_SECRET": secret}
    return subprocess.Popen(
        [str(LIFECYCLE), "export", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def webhook_args(
    url: str, scores_path: Path, exports: Path, *extra: str, progress: bool = False
) -> list[str]:
    return [
        "--to",
        "webhook",
        "--url",
        url,
        "--scores",
        str(scores_path),
        "--project",
        "acme",
        "--target",
        "crm-hook",
        "--exports-dir",
        str(exports),
        "--batch-size",
        "20",
        "--timeout",
        "0.5",
        "--progress" if progress else "--no-progress",
        *extra,
    ]


def send(scores: pd.DataFrame, state: Path, url: str, **options):
    """``export_webhook`` in process: the generic mapping, project ``a``, target ``t``, no
    progress bar (``options`` override or add keyword arguments)."""
    mapping = options.pop("mapping", None) or load_mapping("generic")
    keywords = {"project": "a", "target": "t", "progress": False} | options
    return export_webhook(scores, "s", mapping, state, url, SECRET, **keywords)


def retries_in(stdout: str) -> int:
    found = re.search(r"(\d+) retries", stdout)
    return int(found.group(1)) if found else 0


# -- random faults, in process ----------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_every_customer_delivered_once(
    seed: int, scores: pd.DataFrame, tmp_path: Path
) -> None:
    receiver = Receiver(SECRET, Faults(rate=0.4, seed=seed, slow_seconds=0.7))
    with receiver.running():
        result = send(
            scores, tmp_path, receiver.url, batch_size=25, policy=FAST, rng=random.Random(seed)
        )
    assert result.ok and result.dead == 0
    assert result.delivered == receiver.stats["batches_applied"] == math.ceil(len(scores) / 25)
    assert receiver.stats["faults"] > 0 and result.retries >= receiver.stats["faults"]
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    assert_keys_match_bodies(receiver)
    # a retried batch keeps its key; attempts are numbered 1, 2, ... under it
    attempts = defaultdict(list)
    for key, _, attempt, _ in receiver.seen:
        attempts[key].append(int(attempt))
    assert all(a == list(range(1, len(a) + 1)) for a in attempts.values())
    assert any(len(a) > 1 for a in attempts.values())
    record(f"random faults, seed {seed}", receiver, result.retries, missing)


def test_retry_after_is_honoured_and_4xx_is_not_retried(scores: pd.DataFrame, tmp_path: Path):
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("429",), retry_after="2"))
    receiver.on_request = lambda n, phase: setattr(receiver.faults, "rate", 0.0)
    with receiver.running():
        send(scores.head(0), tmp_path, receiver.url)
        from serving.writeback.journal import Batch

        body = json.dumps({"key_field": "customer_id", "customers": [{"customer_id": "C1"}]})
        batch = Batch("run", 1, "key-1", {"C1": "fp"}, body.encode())
        waits: list[float] = []
        outcome = deliver(
            httpx_client(),
            receiver.url,
            batch,
            SECRET,
            FAST,
            time.monotonic() + 60,
            random.Random(0),
            sleep=waits.append,
        )
    assert outcome.status == "delivered" and outcome.attempts == 2
    assert waits and waits[0] >= 2.0  # never sooner than Retry-After, above the backoff cap
    assert receiver.state == {"C1": {"customer_id": "C1"}}


def httpx_client():
    import httpx

    return httpx.Client(timeout=FAST.timeout)


def test_client_error_goes_to_the_dead_letter_file_and_is_sent_next_time(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A 422 for one record: the batch is split down to that customer, who goes to the
    dead-letter file alone (by id); the other 19 of its batch are delivered."""
    poison = scores["customer_id"].iloc[50]
    receiver = Receiver(SECRET, reject_customers=frozenset({poison}))
    with receiver.running():
        first = send(scores, tmp_path, receiver.url, batch_size=20, policy=FAST)
        assert first.dead == 1 and not first.ok and first.rejected_ids == [poison]
        assert first.retries == 0  # a 422 is not retried: each half is sent once
        assert receiver.stats["rejected_422"] == first.dead_customers + 4  # 20, 10, 5, 2, 1
        dead = [json.loads(line) for line in first.dead_letter.read_text().splitlines()]
        assert len(dead) == 1 and dead[0]["reason"].startswith("HTTP 422 (not retried)")
        assert dead[0]["customer_ids"] == [poison] and dead[0]["attempts"] == 1
        assert len(dead[0]["body"]["customers"]) == 1
        assert missing_or_stale(receiver, scores) == 1
        receiver.reject_customers = frozenset()
        second = send(scores, tmp_path, receiver.url, batch_size=20, policy=FAST)
    assert second.ok and second.customers_sent == 1  # only the rejected customer
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    assert_keys_match_bodies(receiver)
    record("422 for one record, then healed", receiver, first.retries + second.retries, missing)


def test_a_receiver_refusing_large_batches_gets_halves_and_the_size_it_takes_is_said(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A receiver taking at most 12 customers a request answers 413 to batches of 40: each is
    halved until it fits (nothing lost), and the export names the batch size the receiver takes
    whole, so the next week's export does not pay the refused requests again."""
    receiver = Receiver(SECRET, max_customers=12)
    with receiver.running():
        first = send(scores, tmp_path, receiver.url, batch_size=40, policy=FAST)
        assert first.ok and first.dead == 0 and missing_or_stale(receiver, scores) == 0
        assert receiver.stats["too_large_413"] == len(first.too_large) > 0
        fits = first.limit.fits if first.limit else None
        assert min(first.too_large) > 12 and fits is not None and 6 <= fits <= 12
        before = receiver.stats["too_large_413"]
        again = send(scores, tmp_path / "again", receiver.url, batch_size=fits, policy=FAST)
    assert again.ok and not again.too_large and again.limit is None
    assert receiver.stats["too_large_413"] == before
    assert_keys_match_bodies(receiver)


def changed(scores: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``scores`` with ``n`` customers (seeded) given another recommended action."""
    later = scores.copy()
    rows = random.Random(seed).sample(list(later.index), n)
    later.loc[rows, "recommended_action"] = f"win_back.call_{seed}"
    return later


def test_the_size_a_receiver_took_after_413s_plans_the_next_exports(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """The journal keeps the largest batch the receiver took after refusing larger ones (413):
    next week's export sends its changed customers in batches of that size, with no refused
    request (it sent them in batches of 200 again: 31 requests, 15 refused, for 150 customers in
    13 batches of 12). An explicit --batch-size wins; taken whole, the limit is forgotten."""
    few = scores.head(200)
    receiver = Receiver(SECRET, max_customers=12)
    with receiver.running():

        def week(frame: pd.DataFrame, **options) -> tuple[object, int, int]:
            requests, refused = receiver.stats["requests"], receiver.stats["too_large_413"]
            result = send(frame, tmp_path, receiver.url, policy=FAST, **options)
            assert result.ok
            return (
                result,
                receiver.stats["requests"] - requests,
                receiver.stats["too_large_413"] - refused,
            )

        first, _, refused = week(few)  # 200 -> 100 -> 50 -> 25 -> 13 refused, 12 taken
        assert refused > 0 and first.limit.refused == 13 and first.limit.fits == 12
        frame = changed(few, 150, seed=1)
        second, requests, refused = week(frame)
        assert second.customers_sent == 150 and second.batch_size == 12
        assert (requests, refused) == (math.ceil(150 / 12), 0)
        frame = changed(frame, 60, seed=2)
        explicit, _, refused = week(frame, batch_size=40)
        assert explicit.batch_size == 40 and refused > 0 and explicit.limit.fits == 12
        receiver.max_customers = 100  # the receiver's limit rises: never found by itself
        frame = changed(frame, 30, seed=3)
        same, requests, refused = week(frame)
        assert same.batch_size == 12 and (requests, refused) == (3, 0)
        frame = changed(frame, 50, seed=4)
        reset, requests, refused = week(frame, batch_size=50)
        assert (requests, refused) == (1, 0) and reset.limit is None
        frame = changed(frame, 10, seed=5)
        default, _, _ = week(frame)
        assert default.batch_size == 200
    assert missing_or_stale(receiver, frame) == 0
    assert_keys_match_bodies(receiver)


def test_a_journal_from_before_the_batch_limit_keeps_working(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A journal written before the receiver's batch limit was kept (no table batch_limit, a run
    left pending) is resumed as it is, then learns the limit."""
    few = scores.head(100)
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("500",)), max_customers=12)
    bounded = RetryPolicy(
        max_attempts=1000, base_delay=0.05, max_delay=0.2, timeout=0.5, max_seconds=0.5
    )
    with receiver.running():
        stuck = send(few, tmp_path, receiver.url, batch_size=10, policy=bounded)
        assert stuck.not_attempted > 0
        with Journal(tmp_path / "journal.sqlite") as journal:
            journal.db.execute("DROP TABLE batch_limit")  # as the journals before it
        receiver.faults.rate = 0.0
        healed = send(changed(few, 40, seed=6), tmp_path, receiver.url, policy=FAST)
    assert healed.ok and healed.resumed_delivered == stuck.not_attempted
    assert healed.limit.refused == 20 and healed.limit.fits == 10  # 40, 20 refused
    assert missing_or_stale(receiver, changed(few, 40, seed=6)) == 0


def test_a_url_without_a_receiver_stops_the_export_and_the_batches_wait(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A 404 (a wrong path) is about the URL, not the customers: it was split as if they were
    refused (200 requests for 347 customers, 100 named as rejected). The export stops at the
    first answer like a wrong secret, and the corrected URL resumes every batch."""
    receiver = Receiver(SECRET)
    with receiver.running():
        wrong = send(scores, tmp_path, receiver.url + "-typo", batch_size=20, policy=FAST)
        assert not wrong.ok and wrong.route_error and wrong.route_error.startswith("HTTP 404")
        assert wrong.dead == 0 and not wrong.rejected_ids and not wrong.dead_letter.exists()
        assert receiver.stats["batches_applied"] == 0
        fixed = send(scores, tmp_path, receiver.url, batch_size=20, policy=FAST)
    assert fixed.ok and fixed.resumed_batches == wrong.planned_batches
    assert missing_or_stale(receiver, scores) == 0


def test_a_redirect_stops_the_export_at_the_first_answer(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """A receiver moved to https answers every batch with 301: each batch was dead-lettered in
    turn (18 requests, every customer in the dead-letter file, exit 0 but for the count). The
    export stops at the first answer naming the https URL, and the corrected URL resumes every
    batch with its key."""
    import httpx

    asked: list[str] = []

    def moved(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        https = str(request.url.copy_with(scheme="https"))
        return httpx.Response(301, headers={"Location": https}, text="Moved Permanently")

    receiver = Receiver(SECRET)
    with receiver.running():
        http_url = receiver.url
        client = httpx.Client(transport=httpx.MockTransport(moved))
        wrong = send(scores, tmp_path, http_url, batch_size=20, policy=FAST, client=client)
        assert len(asked) == 1 and wrong.planned_batches > 1
        assert not wrong.ok and wrong.route_error and "correct --url to https" in wrong.route_error
        assert wrong.dead == 0 and not wrong.dead_letter.exists()
        fixed = send(scores, tmp_path, receiver.url, batch_size=20, policy=FAST)
    assert fixed.ok and fixed.resumed_batches == wrong.planned_batches
    assert missing_or_stale(receiver, scores) == 0


def test_total_time_is_bounded_and_the_rest_resumes(scores: pd.DataFrame, tmp_path: Path):
    """A receiver failing past the time bound: the batch being retried when the bound comes stays
    planned with the batches after it (it was dead-lettered, so its customers went again later
    under another key, which no receiver can tell from new data); the next run resumes them all
    with their keys and bytes."""
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("500",)))
    bounded = RetryPolicy(
        max_attempts=1000, base_delay=0.05, max_delay=0.2, timeout=0.5, max_seconds=1.5
    )
    with receiver.running():
        stuck = send(scores, tmp_path, receiver.url, batch_size=50, policy=bounded)
        assert not stuck.ok and stuck.delivered == 0 and stuck.dead == 0
        assert stuck.not_attempted == stuck.planned_batches and stuck.retries >= 1
        assert not stuck.dead_letter.exists()
        receiver.faults.rate = 0.0
        healed = send(scores, tmp_path, receiver.url, batch_size=50, policy=FAST)
    assert healed.ok and healed.resumed_batches == stuck.planned_batches
    assert healed.planned_batches == 0  # nothing left to send again under a new key
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    assert_keys_match_bodies(receiver)
    assert receiver.stats["same_content_new_key"] == 0
    record(
        "receiver down (500s) past the time bound, then healed",
        receiver,
        stuck.retries + healed.retries,
        missing,
    )


def test_an_answer_dripped_a_byte_at_a_time_cannot_hold_the_export(
    scores: pd.DataFrame, tmp_path: Path
):
    """httpx's timeout bounds each read, not the answer: a receiver sending one byte every 0.1 s
    held the export past --timeout and --max-seconds (killed after 60 s). Each attempt now takes
    at most its timeout; the batch the bound stops stays planned and goes again with its key (the
    receiver, which had stored it, drops the repeat)."""
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("drip",), drip_seconds=0.1))
    bounded = RetryPolicy(
        max_attempts=100, base_delay=0.05, max_delay=0.1, timeout=0.5, max_seconds=2
    )
    with receiver.running():
        started = time.monotonic()
        stuck = send(scores, tmp_path, receiver.url, batch_size=50, policy=bounded)
        elapsed = time.monotonic() - started
        assert elapsed < 2 + 0.5 + 1.5, elapsed  # the bound, one attempt's timeout, slack
        assert not stuck.ok and stuck.dead == 0 and stuck.not_attempted >= 1, (
            stuck.dead_letter.read_text()[:600] if stuck.dead_letter.exists() else ""
        )
        receiver.faults.rate = 0.0
        healed = send(scores, tmp_path, receiver.url, batch_size=50, policy=FAST)
    assert healed.ok and missing_or_stale(receiver, scores) == 0
    assert_keys_match_bodies(receiver)
    assert receiver.stats["duplicates_dropped"] >= 1 and receiver.stats["same_content_new_key"] == 0


def test_a_retry_after_past_the_time_bound_leaves_the_batches_planned(
    scores: pd.DataFrame, tmp_path: Path
):
    """429 with a Retry-After longer than what is left of --max-seconds dead-lettered every batch
    within seconds (each POSTed once, at once). Now the export stops at the first and leaves them
    all planned for the next run."""
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("429",), retry_after="30"))
    bounded = RetryPolicy(
        max_attempts=8, base_delay=0.05, max_delay=0.1, timeout=0.5, max_seconds=3
    )
    with receiver.running():
        started = time.monotonic()
        stuck = send(scores, tmp_path, receiver.url, batch_size=50, policy=bounded)
        assert time.monotonic() - started < 3
        assert stuck.dead == 0 and stuck.not_attempted == stuck.planned_batches > 1
        assert receiver.stats["requests"] == 1  # the rest were not sent into the rate limit
        receiver.faults.rate = 0.0
        healed = send(scores, tmp_path, receiver.url, batch_size=50, policy=FAST)
    assert healed.ok and healed.resumed_batches == stuck.planned_batches
    assert missing_or_stale(receiver, scores) == 0


def test_a_wait_the_receiver_asks_for_is_named_and_a_resumed_customer_counted_once(
    scores: pd.DataFrame, tmp_path: Path
):
    """429 with Retry-After: 120 under --max-seconds 3: the summary names the receiver's wait
    (not only "time limit reached") and counts the customers left waiting. The next run resumes
    them with the old scores, then sends the 15 whose new scores changed: each counted once."""
    path = tmp_path / "scores.parquet"
    exports = tmp_path / "exports"
    few = scores.head(100)
    few.to_parquet(path, index=False)
    receiver = Receiver(SECRET, Faults(rate=1.0, kinds=("429",), retry_after="120"))
    with receiver.running():
        stuck = cli(webhook_args(receiver.url, path, exports, "--max-seconds", "3"))
        out, err = stuck.communicate(timeout=120)
        assert stuck.returncode == 1, err
        assert (
            "the receiver asked to wait 120 s (Retry-After), past the time limit of 3 s: "
            "5 batches (100 customers) not delivered (waiting in the journal)"
        ) in err
        later = few.copy()
        changed = later.index[later["churn_probability"].notna()][:15]
        later.loc[changed, "recommended_action"] = "win_back.account_manager_call"
        later.to_parquet(path, index=False)
        receiver.faults.rate = 0.0
        healed = cli(webhook_args(receiver.url, path, exports))
        out, err = healed.communicate(timeout=120)
    assert healed.returncode == 0, err
    assert receiver.stats["customers_applied"] == 115  # 100 resumed, then 15 changed
    assert "acme/crm-hook: 100 customers in 6 batches delivered (5 of them resumed" in out
    assert missing_or_stale(receiver, later) == 0


# -- real processes: wrong secret, kill -9, concurrency, full disk ---------------------------------
def test_wrong_secret_is_rejected_and_reported_then_resumed(scores: pd.DataFrame, tmp_path: Path):
    path = tmp_path / "scores.parquet"
    scores.to_parquet(path, index=False)
    receiver = Receiver(SECRET)
    with receiver.running():
        wrong = cli(
            webhook_args(receiver.url, path, tmp_path / "exports"),
            secret="not-the-receivers-secret",
        )
        out, err = wrong.communicate(timeout=120)
        assert wrong.returncode == 2, err
        assert "rejected the request: HTTP 401" in err and "LIFECYCLE_WEBHOOK_SECRET" in err
        assert receiver.stats["bad_signature"] == 1 and not receiver.state  # not retried
        rejected_key = receiver.seen[0][0]
        right = cli(webhook_args(receiver.url, path, tmp_path / "exports"))
        out, err = right.communicate(timeout=120)
    assert right.returncode == 0, err
    assert rejected_key in receiver.key_bodies  # the same batch, under the same key
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    record("wrong secret (401), then the right one", receiver, retries_in(out), missing)


def test_credentials_in_the_url_are_never_printed_nor_in_the_state_folder(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """``http://user:pass@host:port/hook?token=...``: the target is named after host:port and a
    hash of the path, and neither the summary, the 401 message, the progress bar nor the state
    folder shows the user info or the query's token (Zapier-style hooks carry it there). A second
    hook on the same host (another path) is another target: its customers are sent too, not
    found "unchanged" in the first hook's journal; a rotated token is the same target."""
    path = tmp_path / "scores.parquet"
    scores.head(30).to_parquet(path, index=False)
    exports = tmp_path / "exports"
    receiver = Receiver(SECRET)
    with receiver.running():
        url = receiver.url.replace("http://", "http://hook-user:pa55-w0rd@") + "?token=t0k3n-xyz"
        host = url.split("@")[1].split("/")[0]
        args = webhook_args(url, path, exports, progress=True)
        args = args[: args.index("--target")] + args[args.index("--target") + 2 :]
        wrong = cli(args, secret="not-the-receivers-secret")
        out1, err1 = wrong.communicate(timeout=120)
        right = cli(args)
        out2, err2 = right.communicate(timeout=120)
        receiver.path = "/hooks/other"  # a second hook on the same host
        other_url = url.replace("/hooks/scores", "/hooks/other")
        other = cli([other_url if a == url else a for a in args])
        out3, err3 = other.communicate(timeout=120)
        receiver.path = "/hooks/scores"
        rotated = cli([url.replace("t0k3n-xyz", "r0tat3d") if a == url else a for a in args])
        out4, err4 = rotated.communicate(timeout=120)
    assert wrong.returncode == 2
    assert f"HTTP 401 from http://{host}/hooks/scores?token=***:" in err1
    assert right.returncode == 0, err2
    assert other.returncode == 0, err3
    assert re.search(r": 30 customers in 2 batches delivered", out3), out3
    assert rotated.returncode == 0 and "30 customers unchanged" in out4, out4 + err4
    assert re.search(rf"acme/webhook-{re.escape(host)}-[0-9a-f]{{10}}: 30 customers", out2)
    assert f"-> {host}" in err2  # the progress bar
    for text in (out1, err1, out2, err2, out3, err3, out4, err4):
        assert "pa55-w0rd" not in text and "hook-user" not in text and "t0k3n" not in text
        assert "r0tat3d" not in text
    folders = sorted(p.name for p in (exports / "acme").iterdir())
    assert len(folders) == 2 and all(
        re.fullmatch(rf"webhook-{re.escape(host.replace(':', '_'))}-[0-9a-f]{{10}}", f)
        for f in folders
    )
    assert receiver.stats["batches_applied"] == 4
    assert missing_or_stale(receiver, scores.head(30)) == 0


def test_a_batch_dead_lettered_while_resuming_waits_for_the_next_export(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """401 on the first run (exit 2, all batches stay planned); the re-run resumes them and one
    record gets a 4xx: its batch is split, the customer goes to the dead-letter file and is sent
    by the *next* export, not again in the same run, and the summary counts each customer once."""
    path = tmp_path / "scores.parquet"
    few = scores.head(80)
    few.to_parquet(path, index=False)
    exports = tmp_path / "exports"
    receiver = Receiver(SECRET)
    poison = few["customer_id"].iloc[0]
    with receiver.running():
        args = webhook_args(receiver.url, path, exports)
        wrong = cli(args, secret="not-the-receivers-secret")
        assert wrong.communicate(timeout=120) and wrong.returncode == 2
        receiver.reject_customers = frozenset({poison})  # batch 1 gets a 422
        resumed = cli(args)
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 1, err
        assert receiver.stats["rejected_422"] == 5  # 20, 10, 5, 2, 1: the halves with it
        assert (
            "acme/crm-hook: 79 customers in 7 batches delivered (7 of them resumed from an "
            "interrupted run), 0 retries, 1 batches dead-lettered (1 customers), 0 customers "
            "unchanged"
        ) in out
        assert "1 customers rejected by the receiver, each dead-lettered alone" in err
        assert poison in err and "sent again by the next export" in err
        assert missing_or_stale(receiver, few) == 1
        receiver.reject_customers = frozenset()
        nxt = cli(args)
        out, err = nxt.communicate(timeout=120)
    assert nxt.returncode == 0, err
    assert "1 customers in 1 batches delivered (0 of them resumed" in out
    assert "79 customers unchanged" in out
    assert missing_or_stale(receiver, few) == 0
    assert_keys_match_bodies(receiver)


def run_killed_at(
    receiver: Receiver,
    path: Path,
    exports: Path,
    after_requests: int | None,
    phase: str | None,
    args: list[str] | None = None,
) -> None:
    """Run the exporter and kill -9 it at request ``after_requests`` (counted from this run's
    first) when the receiver reaches ``phase``; with ``phase`` None, as soon as it holds the lock
    (reading the scores, planning the batches)."""
    start = receiver.stats["requests"]
    proc = cli(args or webhook_args(receiver.url, path, exports))
    done = threading.Event()

    def hook(number: int, at: str) -> None:
        if not done.is_set() and number > start + after_requests - 1 and at == phase:
            os.kill(proc.pid, signal.SIGKILL)
            done.set()

    if phase is None:
        lock = state_dir(exports, "acme", "crm-hook") / "export.lock"
        while not lock.exists() and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        done.set()
    else:
        receiver.on_request = hook
    proc.communicate(timeout=120)
    receiver.on_request = None
    assert done.is_set() and proc.returncode == -signal.SIGKILL


def finish(receiver: Receiver, path: Path, exports: Path) -> int:
    """A run without kill, then one more that finds nothing to send; returns the retries."""
    final = cli(webhook_args(receiver.url, path, exports))
    out, err = final.communicate(timeout=180)
    assert final.returncode == 0, err
    again = cli(webhook_args(receiver.url, path, exports))
    out2, err2 = again.communicate(timeout=120)
    assert again.returncode == 0, err2
    assert "0 customers in 0 batches delivered" in out2
    with Journal(state_dir(exports, "acme", "crm-hook") / "journal.sqlite") as journal:
        assert journal.integrity_ok() and not journal.unfinished_runs()
    return retries_in(out)


def test_kill_9_at_several_points_then_rerun_leaves_nothing_missing(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "scores.parquet"
    exports = tmp_path / "exports"
    scores.to_parquet(path, index=False)
    receiver = Receiver(SECRET, Faults(rate=0.2, seed=11, slow_seconds=0.7))
    with receiver.running():
        run_killed_at(receiver, path, exports, None, None)  # reading scores, planning
        run_killed_at(receiver, path, exports, 1, "received")  # applied after the client died
        run_killed_at(receiver, path, exports, 3, "applied")  # the answer never reaches the client
        later = scores.copy()
        changed = later.index[later["churn_probability"].notna()][:15]
        later.loc[changed, "churn_probability"] = later.loc[changed, "churn_probability"] * 0.9
        later.loc[changed, "recommended_action"] = "win_back.account_manager_call"
        later.to_parquet(path, index=False)  # new scores arrive between two runs
        run_killed_at(receiver, path, exports, 2, "responded")  # before or after the commit
        retries = finish(receiver, path, exports)
    missing = missing_or_stale(receiver, later)
    assert missing == 0
    assert receiver.stats["duplicates_dropped"] >= 2  # the batches applied after the kills
    assert receiver.stats["same_content_new_key"] == 0  # no batch sent twice under two keys
    assert_keys_match_bodies(receiver)
    with Journal(state_dir(exports, "acme", "crm-hook") / "journal.sqlite") as journal:
        assert len(journal.fingerprints()) == len(scores)
    record(
        "kill -9 x4 (start, received, applied, answered) + 20% faults",
        receiver,
        retries,
        missing,
        kills=4,
    )


def test_rejected_records_are_isolated_across_kill_9_without_duplicates(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Two records the receiver rejects in one batch, kill -9 while its halves are sent, then
    re-runs: the halves resume under their own keys and bytes, the two customers are
    dead-lettered alone and every other customer is delivered once."""
    path = tmp_path / "scores.parquet"
    exports = tmp_path / "exports"
    few = scores.head(100)
    few.to_parquet(path, index=False)
    poison = frozenset(few["customer_id"].iloc[[45, 47]])  # both in batch 3 (rows 40-59)
    receiver = Receiver(SECRET, reject_customers=poison)
    with receiver.running():
        run_killed_at(receiver, path, exports, 4, "received")  # batch 3's first half
        run_killed_at(receiver, path, exports, 2, "applied")  # applied, its answer lost
        rerun = cli(webhook_args(receiver.url, path, exports))
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 1, err
        assert "2 customers rejected by the receiver, each dead-lettered alone" in err
        with Journal(state_dir(exports, "acme", "crm-hook") / "journal.sqlite") as journal:
            assert not journal.unfinished_runs()
            assert set(journal.fingerprints()) == set(few["customer_id"]) - poison
        dead = [json.loads(line) for line in (state_dir(exports, "acme", "crm-hook") /
                "dead-letter.jsonl").read_text().splitlines()]  # fmt: skip
        assert sorted(i for d in dead for i in d["customer_ids"]) == sorted(poison)
        assert missing_or_stale(receiver, few) == 2
        receiver.reject_customers = frozenset()
        healed = cli(webhook_args(receiver.url, path, exports))
        out, err = healed.communicate(timeout=120)
    assert healed.returncode == 0, err
    assert "2 customers in 1 batches delivered" in out
    assert missing_or_stale(receiver, few) == 0
    assert receiver.stats["same_content_new_key"] == 0
    assert_keys_match_bodies(receiver)
    record("2 rejected records in one batch, kill -9 x2 while splitting", receiver, 0, 0, kills=2)


def test_kill_9_after_a_413_loses_neither_customers_nor_the_batch_limit(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """kill -9 as the receiver refuses a batch as too large (before or after the halves are
    journaled), and again while the first half is sent: the re-run without --batch-size delivers
    everyone once, learns the size the receiver takes (10, the halves of 20), and the next week's
    export sends in batches of 10 with no refused request, and says so."""
    path = tmp_path / "scores.parquet"
    exports = tmp_path / "exports"
    few = scores.head(100)
    few.to_parquet(path, index=False)
    receiver = Receiver(SECRET, max_customers=12)
    with receiver.running():
        default = webhook_args(receiver.url, path, exports)
        at = default.index("--batch-size")
        default[at : at + 2] = []
        run_killed_at(receiver, path, exports, 1, "refused")  # batch 1 of 20: 413, then killed
        run_killed_at(receiver, path, exports, 2, "received")  # its first half is being sent
        rerun = cli(default)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        assert missing_or_stale(receiver, few) == 0
        with Journal(state_dir(exports, "acme", "crm-hook") / "journal.sqlite") as journal:
            assert not journal.unfinished_runs() and journal.batch_limit().fits == 10
        later = changed(few, 35, seed=7)
        later.to_parquet(path, index=False)
        requests, refused = receiver.stats["requests"], receiver.stats["too_large_413"]
        week = cli(default)
        out, err = week.communicate(timeout=120)
    assert week.returncode == 0, err
    assert receiver.stats["requests"] - requests == math.ceil(35 / 10)
    assert receiver.stats["too_large_413"] == refused
    assert "35 customers in 4 batches delivered" in out
    assert "batches of 10: the receiver refused larger ones on " in out
    assert missing_or_stale(receiver, later) == 0
    assert receiver.stats["same_content_new_key"] == 0
    assert_keys_match_bodies(receiver)


def test_kill_9_at_random_points(scores: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    exports = tmp_path / "exports"
    scores.to_parquet(path, index=False)
    plan = random.Random(2026)
    kills = [
        (plan.randint(1, 4), plan.choice(["received", "applied", "responded"])) for _ in range(5)
    ]
    receiver = Receiver(SECRET, Faults(rate=0.15, seed=5, slow_seconds=0.7))
    with receiver.running():
        for after, phase in kills:
            run_killed_at(receiver, path, exports, after, phase)
        retries = finish(receiver, path, exports)
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    assert_keys_match_bodies(receiver)
    assert receiver.stats["same_content_new_key"] == 0
    record(
        f"kill -9 x5 at seeded points {kills} + 15% faults",
        receiver,
        retries,
        missing,
        kills=len(kills),
    )


def test_a_second_export_to_the_same_target_is_refused(scores: pd.DataFrame, tmp_path: Path):
    path = tmp_path / "scores.parquet"
    scores.to_parquet(path, index=False)
    receiver = Receiver(SECRET)
    holding, release = threading.Event(), threading.Event()

    def hold_first(number: int, phase: str) -> None:
        if number == 1 and phase == "applied":
            holding.set()
            release.wait(60)

    receiver.on_request = hold_first
    with receiver.running():
        args = webhook_args(
            receiver.url, path, tmp_path / "exports", "--timeout", "30", progress=True
        )
        first = cli(args)
        assert holding.wait(60)
        second = cli(args)
        _, err = second.communicate(timeout=60)
        release.set()
        _, err1 = first.communicate(timeout=120)
    assert second.returncode == 2
    assert "another export to this project and target is running" in err
    assert f"pid {first.pid}" in err
    assert first.returncode == 0, err1
    assert "export -> 127.0.0.1" in err1 and f"{math.ceil(len(scores) / 20)}/" in err1  # the bar
    assert missing_or_stale(receiver, scores) == 0


@pytest.fixture
def tiny_disk() -> Path:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount_tmpfs(FULL_DISK, "1m")
    try:
        yield FULL_DISK
    finally:
        subprocess.run(["umount", str(FULL_DISK)], check=False)


def test_full_disk_for_the_journal_is_a_clear_error_and_state_survives(
    scores: pd.DataFrame, tmp_path: Path, tiny_disk: Path
) -> None:
    path = tmp_path / "scores.parquet"
    receiver = Receiver(SECRET)
    with receiver.running():
        scores.head(10).to_parquet(path, index=False)
        small = cli(webhook_args(receiver.url, path, tiny_disk))
        out, err = small.communicate(timeout=120)
        assert small.returncode == 0, err
        # a few pages past what the first export left (the journal's tables): the next one's
        # batches cannot fit (a fixed 64k was less than the journal already held)
        kept = shutil.disk_usage(tiny_disk).used // 1024
        subprocess.run(
            ["mount", "-o", f"remount,size={max(64, kept + 16)}k", str(tiny_disk)], check=True
        )
        scores.to_parquet(path, index=False)
        full = cli(webhook_args(receiver.url, path, tiny_disk))
        out, err = full.communicate(timeout=120)
        assert full.returncode == 2, err
        assert "the disk is full" in err and "journal.sqlite" in err and "resume" in err
        assert "Traceback" not in err
        state = state_dir(tiny_disk, "acme", "crm-hook")
        with Journal(state / "journal.sqlite") as journal:
            assert journal.integrity_ok()
            assert len(journal.fingerprints()) == 10 and not journal.unfinished_runs()
        assert len(receiver.state) == 10
        subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_disk)], check=True)
        resumed = cli(webhook_args(receiver.url, path, tiny_disk))
        out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    missing = missing_or_stale(receiver, scores)
    assert missing == 0
    record(
        "journal on a full 64 KB disk, then space freed",
        receiver,
        retries_in(out),
        missing,
        kills=1,
    )


@pytest.mark.parametrize("name", ["salesforce", "zoho", "hubspot", "fxiaoke", "generic"])
def test_webhook_clears_a_score_field_that_became_missing(
    name: str, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """The uplift champion removed: the saved value is missing for everyone, and each CRM's
    webhook record carries an explicit null for it (the receiver, like a CRM update, keeps a
    field that is not sent), so no stale saved value stays behind."""
    mapping = load_mapping(name)
    column = next(f.column for f in mapping.fields if f.source == "expected_saved_value")
    with_uplift = scores.copy()
    with_uplift["expected_saved_value"] = 12.5
    receiver = Receiver(SECRET)
    with receiver.running():
        first = send(with_uplift, tmp_path, receiver.url, mapping=mapping)
        assert first.ok and {r[column] for r in receiver.state.values()} == {12.5}
        assert scores["expected_saved_value"].isna().all()
        later = send(scores, tmp_path, receiver.url, mapping=mapping)
    assert later.ok and later.customers_sent == len(scores)
    assert len(receiver.state) == len(scores)
    assert all(column in r and r[column] is None for r in receiver.state.values())


def _fill(disk: Path) -> None:
    """Take every free byte of ``disk`` (a tmpfs)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def test_a_csv_file_the_full_disk_refuses_leaves_the_journal_untouched(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    """The import file on a full disk: the error names the file, not the journal, and the journal
    (on another disk) is byte for byte what it was: nothing is recorded, not even the customers
    missing from the new scores, until a file is written."""
    from serving.writeback.csv_export import export_csv
    from serving.writeback.journal import JournalError

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = mount_tmpfs(tmp_path / "full", "200k")
    try:
        mapping, state = load_mapping("hubspot"), tmp_path / "state"
        export_csv(scores.head(30), "s", mapping, state, out=tmp_path / "first.csv")
        journal = (state / "journal.sqlite").read_bytes()
        _fill(disk)
        with pytest.raises(JournalError) as failed:
            export_csv(scores.head(30).iloc[5:], "s", mapping, state, full=True, out=disk / "x.csv")
        message = str(failed.value)
        assert message.startswith(f"{disk / 'x.csv'}: the disk is full")
        assert "journal could not be written" not in message
        assert "nothing is recorded as exported" in message
        assert (state / "journal.sqlite").read_bytes() == journal
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
        (disk / "filler").unlink()
        again = export_csv(
            scores.head(30).iloc[5:], "s", mapping, state, full=True, out=disk / "x.csv"
        )
        assert again.written == 25 and again.gone == 5
        with Journal(state / "journal.sqlite") as after:
            assert after.not_in_scores() == sorted(scores["customer_id"].head(5))
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_failed_part_leaves_every_earlier_part_in_place(scores: pd.DataFrame, tmp_path: Path):
    """An export in parts that fails at its second part (a full disk, a kill) must not have
    replaced the first: the earlier export's parts at ``--out`` are what tells the next export
    which customers were written but maybe never imported. Scores in another order (by priority)
    put other customers in the first part; replacing it alone lost 10 of 30 for good."""
    from disk_faults import file_size_limit

    from serving.writeback.csv_export import export_csv, export_files
    from serving.writeback.journal import JournalError

    mapping = load_mapping("generic").model_copy(update={"max_rows_per_file": 10})
    week1 = scores.head(30).reset_index(drop=True)
    state, out = tmp_path / "state", tmp_path / "scores.csv"
    export_csv(week1, "s", mapping, state, out=out)
    week2 = week1.iloc[::-1].reset_index(drop=True)  # another order; its second part is big
    week2["reasons"] = [["x" * 1500] if 10 <= i < 20 else r for i, r in enumerate(week2.reasons)]
    with file_size_limit(12_000), pytest.raises(JournalError):
        export_csv(week2, "s", mapping, state, out=out)
    export_csv(week2, "s", mapping, state, out=out)
    in_files = set()
    for part in export_files(out):
        in_files |= set(pd.read_csv(part, dtype=str)["customer_id"])
    assert len(set(week1["customer_id"]) - in_files) == 0
