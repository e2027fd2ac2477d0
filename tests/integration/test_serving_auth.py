"""The HTTP service with tokens (issue 14 §2), over a real server process on loopback: who may
call what, revocation and expiry, rate limits, feedback attributed to its credential, the
``auto`` mode off loopback, and the OpenAPI fuzzer with a token."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from test_serving import GOLDENPATH, ROW, _port, _spec, call, fuzz_openapi, root, serving

import goldenpath
from goldenpath.registry.credentials import create_client, create_token, revoke_credential
from goldenpath.settings import os_user

__all__ = ["root"]  # the module's fixture, shared with test_serving


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _client(project: goldenpath.Project, name: str, *scopes: str, **kw: Any) -> str:
    return create_client(project, name, scopes, **kw).token  # type: ignore[arg-type]


def test_who_may_call_what(root: Path) -> None:
    project = goldenpath.open_project(root)
    shop = _client(project, "shop", "predict")
    labeller = _client(project, "labeller", "feedback")
    ops = _client(project, "ops", "metrics")
    everything = _client(project, "platform", "admin")
    person = create_token(project, os_user()).token
    started = time.time()
    with serving(root, auth="token", auth_revalidate_seconds=0.5) as (base, _):
        status, _, headers = call(base, "/predict", ROW)
        assert status == 401
        assert headers["www-authenticate"].startswith("Bearer")
        assert call(base, "/predict", ROW, headers=_bearer("gp_0123456789ab_" + "x" * 43))[0] == 401
        assert call(base, "/predict", ROW, headers=_bearer(person))[0] == 403  # a person's
        assert call(base, "/predict", ROW, headers=_bearer(labeller))[0] == 403
        status, answer, _ = call(base, "/predict", ROW, headers=_bearer(shop))
        assert status == 200
        for path in ("/invocations", "/v2/models/small/infer"):  # every scoring path is guarded
            assert call(base, path, {"inputs": []})[0] == 401
        feedback = {"request_id": answer["request_id"], "labels": ["yes"]}
        assert call(base, "/feedback", feedback, headers=_bearer(shop))[0] == 403
        assert call(base, "/feedback", feedback)[0] == 401
        assert call(base, "/feedback", feedback, headers=_bearer(labeller))[0] == 200
        assert call(base, "/metrics")[0] == 401
        assert call(base, "/metrics", headers=_bearer(shop))[0] == 403
        status, metrics, _ = call(base, "/metrics", headers=_bearer(ops))
        assert status == 200
        assert 'goldenpath_access_refused_total{code="unauthorized"}' in metrics
        assert call(base, "/predict", ROW, headers=_bearer(everything))[0] == 200
        for path in ("/v2/health/ready", "/v2/health/live", "/ping", "/openapi.json"):
            assert call(base, path)[0] == 200  # load balancers and clients reach these
        status, version, _ = call(base, "/version")
        assert (status, version["auth"]) == (200, "token")

        shop_id = shop.split("_")[1]
        revoke_credential(project, shop_id)
        time.sleep(0.6)  # past auth_revalidate_seconds: the server asks the store again
        status, refused, _ = call(base, "/predict", ROW, headers=_bearer(shop))
        assert status == 401
        assert "revoked" in str(refused)
        brief = _client(project, "brief", "predict", expires=timedelta(seconds=1))
        assert call(base, "/predict", ROW, headers=_bearer(brief))[0] == 200
        time.sleep(1.6)
        status, refused, _ = call(base, "/predict", ROW, headers=_bearer(brief))
        assert status == 401
        assert "expired" in str(refused)
    files = (root / ".goldenpath" / "logs" / "feedback").rglob("*.parquet")
    rows = [r for f in files if f.stat().st_mtime >= started for r in pq.read_table(f).to_pylist()]
    assert [(r["request_id"], r["credential"]) for r in rows] == [
        (answer["request_id"], labeller.split("_")[1])
    ]


def test_a_client_past_its_rate_gets_429_and_replay_waits(root: Path) -> None:
    from goldenpath.serving.replay import replay

    project = goldenpath.open_project(root)
    token = _client(project, "fast", "predict", "feedback")
    with serving(root, auth="token", rate_limit={"per_second": 5, "burst": 3}) as (base, _):
        answers = [call(base, "/predict", ROW, headers=_bearer(token)) for _ in range(6)]
        assert [status for status, _, _ in answers[:3]] == [200, 200, 200]  # the burst
        limited = [(body, headers) for status, body, headers in answers[3:] if status == 429]
        assert limited  # 6 requests in far less than the 0.6 s that refill 3 at 5 a second
        body, headers = limited[0]
        assert int(headers["retry-after"]) >= 1
        assert "rate_limited" in str(body)
        result = replay(project, base, ref="small/2", limit=12, feedback_share=0.0, token=token)
        assert result.statuses == {"200": 12}  # it waited for its bucket instead of failing


def test_auto_asks_for_tokens_off_loopback(root: Path) -> None:
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(_spec()))  # serving.auth: auto
    port = _port()
    process = subprocess.Popen(
        [GOLDENPATH, "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if call(base, "/v2/health/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert call(base, "/version")[1]["auth"] == "token"
        assert call(base, "/predict", ROW)[0] == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert "auth token" in output


def test_fuzzing_the_openapi_with_a_token_finds_no_server_error(root: Path) -> None:
    token = _client(goldenpath.open_project(root), "fuzzer", "admin")
    with serving(root, auth="token") as (base, _):
        statuses, failures = fuzz_openapi(base, _bearer(token), examples=15)
    assert failures == []
    assert {400, 422} & set(statuses)  # past the guard, into the validation paths
    assert 401 not in statuses
