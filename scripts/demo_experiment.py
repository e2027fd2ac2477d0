"""The online-experiment part of ``make demo``, run inside the demo project after monitoring.

1. **An A/B test on replayed traffic.** The spec gains an ``experiments:`` entry: the
   gradient-boosted version 1 (treatment) against the logistic champion, version 2 (control),
   half the customers each, judged on revenue per customer with a latency guardrail. Version 1
   is evaluated against the champion and gated (``start`` asks for a passing decision against
   the champion), the experiment is planned and started, a slice of the telco customers is
   replayed through ``goldenpath serve`` with every customer's outcome as feedback: the churn
   label and, as ``values``, the revenue the customer brought (their monthly charges if they
   stayed, 0 if they left). Then ``status``, ``analyze`` (experiment.html) and ``decide`` as the
   analysis recommends.
2. **An automatic rollback.** A deliberately bad candidate: the logistic model with a step that
   sleeps 40 ms in every prediction (the project's own code, trained, reproduced, evaluated and
   gated like any version: its latency is only a warning in the gates) goes out as a 50% canary
   under a ``serving.guardrails`` rule on p95 latency. Under replayed load the server's guardrail
   check halts it within a poll; afterwards no answer comes from it. ``goldenpath audit list``
   shows the ``guardrail.rollback`` event and ``goldenpath incident status`` the halt.

    python scripts/demo_experiment.py GOLDENPATH_EXECUTABLE [PORT]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _demo import fetch, serving, token_options

import goldenpath
from goldenpath.data.dataset import load_dataset

NAME = "boosting-revenue"
CUSTOMERS = 1500
EXPERIMENT = f"""
experiments:
  - name: {NAME}
    hypothesis: >-
      the gradient-boosted model (v1) ranks the customers about to leave better than the
      logistic champion (v2), so the retention team keeps more revenue per customer
    control: champion
    treatment: 1
    allocation: 0.5
    primary: {{name: revenue, source: value}}
    guardrails:
      - {{name: latency, source: latency_ms, kind: ratio, denominator: rows,
         higher_is_better: false, max_relative_change: 0.5}}
    mde: 0.05
    expected_units_per_day: {CUSTOMERS}
"""
SLOW_STEP = '''

def _pause(frame: Any) -> Any:
    """A deliberately slow step (the demo's bad candidate): 40 ms per prediction."""
    import time

    time.sleep(0.04)
    return frame


def train_slow(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    """The same model, with a step that sleeps in every prediction."""
    from sklearn.preprocessing import FunctionTransformer

    pipeline = train(frame, params)
    pause = FunctionTransformer(_pause).fit(frame.drop(columns=[TARGET]))
    return Pipeline([("pause", pause), *pipeline.steps])
'''
GUARDRAILS = """  guardrails:
    - {name: p95-latency, metric: p95_latency_ms, max_relative_increase: 1.0,
       min_rows: 60, window: 5m}
"""


def token(person: str) -> dict[str, str]:
    return {"GOLDENPATH_TOKEN": (Path("..") / f"{person}.token").read_text().strip()}


def runner(goldenpath_cli: str) -> Callable[..., str]:
    """``goldenpath <args>``, printed and run (as ``person``, with their token), failing the
    demo on failure; returns what it printed."""

    def run(*args: str, person: str | None = None, check: bool = True) -> str:
        who = f"({person}) " if person else ""
        print(f"$ {who}goldenpath {' '.join(args)}", flush=True)
        env = {**os.environ, **(token(person) if person else {})}
        done = subprocess.run(
            [goldenpath_cli, *args], env=env, check=check, stdout=subprocess.PIPE, text=True
        )
        print(done.stdout, end="", flush=True)
        return done.stdout

    return run


def commit(message: str) -> None:
    git = ["git", "-c", "user.name=goldenpath-demo", "-c", "user.email=demo@example.com"]
    subprocess.run([*git, "commit", "-qam", message], check=True)
    print(f"$ git commit -am {message!r}", flush=True)


def revenue_slice(folder: Path) -> tuple[Path, float, float]:
    """1,500 telco customers with ``revenue``: what each brought in the month (their monthly
    charges if they stayed, 0 if they churned). Not a contract column: replay sends it as the
    feedback's ``values``, beside the churn label."""
    project = goldenpath.open_project(".")
    frame = load_dataset(project.spec, project.root).frame
    rows = frame.sample(n=CUSTOMERS, random_state=17).copy()
    rows["revenue"] = rows["monthly_charges"].where(rows["churn"] == "No", 0.0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment-traffic.csv"
    rows.to_csv(path, index=False)
    mean, sd = float(rows["revenue"].mean()), float(rows["revenue"].std())
    print(
        f"replayed traffic: {CUSTOMERS:,} customers; revenue per customer = monthly charges if "
        f"they stayed, 0 if they churned ({(rows['churn'] == 'Yes').mean():.0%} churned): mean "
        f"{mean:.2f}, sd {sd:.2f}. The outcomes are recorded history, so they do not depend on "
        "the model that answered: the honest expectation is no effect.",
        flush=True,
    )
    return path, mean, sd


def wait_for_log(base: str, rows: float) -> None:
    """Wait until the server has written ``rows`` prediction log rows (it writes every few s)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        written = sum(
            float(line.split()[-1])
            for line in fetch(base, "/metrics").splitlines()
            if line.startswith("goldenpath_prediction_log_rows_total")
        )
        if written >= rows:
            return
        time.sleep(0.5)


def experiment(goldenpath_cli: str, port: str) -> None:
    run = runner(goldenpath_cli)
    traffic, mean, sd = revenue_slice(Path(".goldenpath") / "demo")
    with Path("goldenpath.yaml").open("a") as spec:
        spec.write(EXPERIMENT)
    print(f"--- goldenpath.yaml gains:{EXPERIMENT}", flush=True)
    commit(f"experiment {NAME}")
    run("validate")
    print("--- the treatment needs a passing gate decision against the champion", flush=True)
    run("evaluate", "telco-churn/1", "--against", "champion")
    run("gate", "telco-churn/1", person="alice")
    run("experiment", "plan", NAME, "--baseline", f"{mean:.4f}", "--baseline-sd", f"{sd:.4f}")
    run("experiment", "start", NAME, person="alice")
    with serving(goldenpath_cli, port) as base:
        version = json.loads(fetch(base, "/version"))
        print(
            f"GET /version: champion {version['champion']}, treatment seat {version['challenger']}"
        )
        print(f"GET /v2/health/ready: {fetch(base, '/v2/health/ready')}", flush=True)
        before = sum(
            float(line.split()[-1])
            for line in fetch(base, "/metrics").splitlines()
            if line.startswith("goldenpath_prediction_log_rows_total")
        )
        run(
            "replay",
            "--url",
            base,
            "--data",
            str(traffic),
            "--feedback-share",
            "1.0",
            "--value-column",
            "revenue",
            *token_options(),
        )
        wait_for_log(base, before + CUSTOMERS)
        run("experiment", "status", NAME)
    # the server has stopped gracefully: every answer and feedback row is in the logs
    run("experiment", "analyze", NAME)
    folder = Path(".goldenpath") / "experiments" / NAME
    readout = json.loads((folder / "experiment.json").read_text())
    decision = readout["decision"]
    print(
        f"recommendation: {decision['recommendation']} ({decision['reason']})\n"
        f"readout: {(folder / 'experiment.html').resolve()} (self-contained, opens offline)",
        flush=True,
    )
    html = (folder / "experiment.html").read_text()
    remote = html.count('src="http') + html.count("src='http")
    print(f"experiment.html: {len(html) / 1e6:.1f} MB, {remote} resources loaded from the network")
    reason = f"the readout recommends {decision['recommendation']}: {decision['reason']}"
    if decision["recommendation"] == "keep running":
        reason += (
            "; the replayed outcomes are history that no model changes, so more units "
            "would not show an effect"
        )
    if decision["recommendation"] == "ship":
        run("approve", "telco-churn/1", "--comment", "the experiment's evidence", person="bob")
        run("experiment", "decide", NAME, "--ship", "--reason", reason, person="alice")
    else:
        run("experiment", "decide", NAME, "--stop", "--reason", reason, person="alice")
    run("experiment", "list")


def rollback(goldenpath_cli: str, port: str) -> None:
    run = runner(goldenpath_cli)
    print("--- a deliberately bad candidate: the champion's model, 40 ms slower", flush=True)
    with Path("churn_model.py").open("a") as code:
        code.write(SLOW_STEP)
    spec = Path("goldenpath.yaml")
    text = spec.read_text()
    text = text.replace("entrypoint: churn_model:train\n", "entrypoint: churn_model:train_slow\n")
    text = text.replace("  canary_share: 0.2\n", "  canary_share: 0.5\n" + GUARDRAILS)
    spec.write_text(text)
    print(
        f"goldenpath.yaml: entrypoint churn_model:train_slow, canary_share 0.5, and\n{GUARDRAILS}"
    )
    commit("a slower candidate, and a latency guardrail on the canary")
    run("train")
    run("reproduce", "latest")
    run("evaluate", "telco-churn/3", "--against", "champion")
    run("gate", "telco-churn/3", person="alice")
    run("promote", "telco-churn/3", "--to", "challenger", "--reason", "canary", person="alice")
    with serving(goldenpath_cli, port) as base:
        replay = ("replay", "--url", base, "--feedback-share", "0", *token_options())
        run(*replay, "--model", "telco-churn@champion", "--limit", "400")
        deadline = time.time() + 60
        while time.time() < deadline:
            controls = json.loads(fetch(base, "/v2/health/ready")).get("controls") or {}
            if controls.get("halted"):
                break
            time.sleep(0.5)
        print(f"GET /v2/health/ready after the breach: {fetch(base, '/v2/health/ready')}")
        print(f"GET /version: {fetch(base, '/version')}", flush=True)
        print("--- the same traffic again: no answer comes from version 3", flush=True)
        out = run(*replay, "--model", "telco-churn@champion", "--limit", "300", "--json")
        versions = json.loads(out)["versions"]
        print(f"answers by version after the breach: {versions}", flush=True)
        if "3" in versions:
            raise SystemExit("the bad candidate still answered after the breach")
    run("alerts", "--status", "open")
    run("audit", "list", "--limit", "4")
    run("incident", "status")


def main() -> None:
    goldenpath_cli = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "8767"
    experiment(goldenpath_cli, port)
    rollback(goldenpath_cli, port)


if __name__ == "__main__":
    main()
