"""The ``goldenpath`` command: a thin shell over the library. Each command parses its options,
calls one library function inside :meth:`Output.working`, and renders the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from goldenpath._types import DOCUMENT_KINDS, DocumentKind
from goldenpath._version import __version__
from goldenpath.cli import (
    evaluation,
    experiments,
    gates,
    governance,
    identity,
    incident,
    monitoring,
)
from goldenpath.cli._options import JsonOption, ProjectOption, kv_table
from goldenpath.cli._output import Output, exit_codes_help

__all__ = ["app", "main"]

app = typer.Typer(
    name="goldenpath",
    help=(
        "The golden path for shipping machine-learning models: one spec (goldenpath.yaml), "
        "data contracts, reproducible training runs with lineage in MLflow."
    ),
    epilog=exit_codes_help(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"goldenpath {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """goldenpath command line."""


@app.command()
def init(
    destination: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    example: Annotated[
        str | None,
        typer.Option(
            "--example", "-e", help="Bundled example to start from (default: telco-churn)."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--from", help="Start from this CSV or Parquet file instead of an example."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="With --from: the column to predict.")
    ] = None,
    task: Annotated[
        str,
        typer.Option("--task", help="With --from: auto, binary, multiclass or regression."),
    ] = "auto",
    time_column: Annotated[
        str | None, typer.Option("--time", help="With --from: the event-time column.")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="With --from: the row-identifier column.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Scaffold a project from a bundled example (telco-churn, ames-housing, penguins), or from
    your own data file (--from FILE --target COLUMN): contract, task and gates inferred, for
    review."""
    if data is None:
        given = [
            name
            for name, value in (("--target", target), ("--time", time_column), ("--id", id_column))
            if value is not None
        ] + (["--task"] if task != "auto" else [])
        if given:
            raise typer.BadParameter(f"{', '.join(given)} only go with --from FILE")
        _init_example(destination, example or "telco-churn", json_output)
        return
    if example is not None:
        raise typer.BadParameter("use --example NAME or --from FILE, not both")
    if target is None:
        raise typer.BadParameter("--from FILE needs --target COLUMN (the column to predict)")
    if task not in ("auto", "binary", "multiclass", "regression"):
        raise typer.BadParameter(
            f"--task {task!r}: use auto, binary, multiclass or regression", param_hint="--task"
        )
    from goldenpath.scaffold import init_from_data

    out = Output(json_output)
    with out.working("Reading the data and inferring its contract"):
        result = init_from_data(
            destination,
            data,
            target=target,
            task=cast(Any, task),
            time_column=time_column,
            id_column=id_column,
        )

    def render(console: Console) -> None:
        label = (
            "" if result.positive_label is None else f", positive label {result.positive_label!r}"
        )
        console.print(
            f"Created [bold]{result.project}[/] from {data} ({result.rows:,} rows, "
            f"{result.columns} columns): {result.task} of [bold]{result.target}[/]{label}.",
            highlight=False,
        )
        if result.review:
            console.print("Review in goldenpath.yaml:", highlight=False)
            for item in result.review:
                console.print(f"  - {item}", highlight=False, markup=False)
        console.print(
            f"Next: cd {destination} && goldenpath validate && goldenpath train", highlight=False
        )

    out.result(result.to_dict(), render)


def _init_example(destination: Path, example: str, json_output: bool) -> None:
    from goldenpath.scaffold import init_project

    out = Output(json_output)
    with out.working("Creating the project"):
        target = init_project(destination, example)
    out.result(
        {"project": str(target), "example": example},
        lambda c: c.print(
            f"Created [bold]{target}[/] from example [bold]{example}[/].\n"
            f"Next: cd {destination} && goldenpath validate && goldenpath train"
        ),
    )


@app.command()
def validate(
    project: ProjectOption = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Validate this CSV/Parquet file instead of data.source."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check the spec, and the data against the spec's contract (all failures at once)."""
    from goldenpath.project import open_project
    from goldenpath.workflows import validate as validate_project

    out = Output(json_output)
    with out.working("Validating the spec and the data"):
        # --data is a path from where the user stands; data.source is relative to the project.
        source = None if data is None or ":" in data else str(Path(data).resolve())
        result = validate_project(open_project(project), data=source or data)

    def render(console: Console) -> None:
        console.print(
            f"[green]✓[/] {result.source} honours the contract of [bold]{result.project}[/]"
        )
        shown = {k: v for k, v in result.to_dict().items() if k != "valid"}
        console.print(kv_table(shown))

    out.result(result.to_dict(), render)


@app.command()
def train(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Train the model, record the run with its lineage in MLflow and register the model."""
    from goldenpath.project import open_project
    from goldenpath.workflows import TRAIN_STEPS
    from goldenpath.workflows import train as train_project

    out = Output(json_output)
    with out.working("Reading the spec", steps=TRAIN_STEPS) as step:
        result = train_project(open_project(project), on_step=step)

    def render(console: Console) -> None:
        console.print(
            f"[green]✓[/] Trained [bold]{result.model_name}[/] version "
            f"[bold]{result.model_version}[/] (run {result.run_id})"
        )
        console.print(
            kv_table(
                {
                    "model": result.model_uri,
                    "rows": f"{result.n_train:,} train / {result.n_test:,} test",
                    "dataset": result.dataset_fingerprint,
                    "training time": f"{result.duration_s:.2f} s",
                    "peak memory": f"{result.peak_memory_mb:.0f} MB",
                    "packed code": ", ".join(result.packed_code) or "none",
                    "load check": f"loaded and scored in a clean process "
                    f"({result.load_check_s:.1f} s)",
                    "model format": f"{result.model_flavour} flavour, {result.serialization}"
                    + (" (executes code on load)" if result.serialization == "cloudpickle" else ""),
                    "tracking": result.tracking_uri,
                }
            )
        )

    out.result(result.to_dict(), render)


@app.command()
def runs(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most N runs.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List the project's training runs, newest first."""
    from goldenpath.project import open_project
    from goldenpath.training import list_runs

    out = Output(json_output)
    with out.working("Reading runs"):
        proj = open_project(project)
        found = list_runs(proj, limit=limit)

    def render(console: Console) -> None:
        if not found:
            console.print(f"No runs yet for [bold]{proj.name}[/]: `goldenpath train` makes one.")
            return
        # Run ids are what users copy into `reproduce`: never truncate them. A wide terminal
        # gets a table; a narrow one (or a pipe) one line per run with its params below.
        rows = [
            (
                run.run_id,
                run.start_time.replace("+00:00", "").replace("T", " ")[:16],
                f"v{run.model_version}" if run.model_version else run.status.lower(),
                "-" if run.duration_s is None else f"{run.duration_s:.2f} s",
                (run.dataset_fingerprint or "-").removeprefix("sha256:")[:8],
                " ".join(f"{k}={v}" for k, v in sorted(run.params.items()) if k != "entrypoint"),
            )
            for run in found
        ]
        if console.width < 120:
            console.print(
                f"[bold]Runs of {proj.name}[/] (run id, started UTC, version, train time, dataset)"
            )
            for run_id, started, version, duration, dataset, params in rows:
                console.print(
                    f"{run_id}  {started}  {version}  {duration}  {dataset}", highlight=False
                )
                console.print(f"  [dim]{params}[/]", highlight=False)
            return
        table = Table(title=f"Runs of {proj.name}", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("run id", no_wrap=True)
        for column in ("started (UTC)", "version", "train time", "dataset"):
            table.add_column(column, no_wrap=True)
        table.add_column("params", overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)

    out.result([r.to_dict() for r in found], render)


@app.command()
def reproduce(
    run: Annotated[str, typer.Argument(help="Run id (see `goldenpath runs`) or 'latest'.")],
    project: ProjectOption = None,
    tolerance: Annotated[
        float,
        typer.Option(min=0.0, help="Largest allowed absolute difference of any score."),
    ] = 1e-6,
    label_tolerance: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Largest allowed share of changed labels."),
    ] = 0.0,
    json_output: JsonOption = False,
) -> None:
    """Retrain a run from its recorded inputs and compare its test predictions.

    Exits with 42 (not_reproducible) when the predictions differ beyond the tolerances.
    """
    from goldenpath.project import open_project
    from goldenpath.workflows import REPRODUCE_STEPS
    from goldenpath.workflows import reproduce as reproduce_run

    out = Output(json_output)
    with out.working("Reading the spec", steps=REPRODUCE_STEPS) as step:
        result = reproduce_run(
            open_project(project),
            run,
            tolerance=tolerance,
            label_tolerance=label_tolerance,
            on_step=step,
        )

    def render(console: Console) -> None:
        mark = "[green]✓ reproduced[/]" if result.reproduced else "[red]✗ not reproduced[/]"
        console.print(f"{mark}: run {result.run_id}")
        changed = result.changed_label_share
        console.print(
            kv_table(
                {
                    "rows compared": f"{result.rows_compared:,}",
                    "max |score diff|": (
                        f"{result.max_abs_score_diff:.3g} (tolerance {tolerance:g})"
                    ),
                    "changed labels": "-" if changed is None else f"{changed:.2%}",
                    "same split": result.split_matches,
                    "code changed": "unknown"
                    if result.code_changed is None
                    else result.code_changed,
                    "dataset": result.dataset_fingerprint,
                }
            )
        )

    out.result(result.to_dict(), render)
    if not result.reproduced:
        raise typer.Exit(42)


app.command()(evaluation.evaluate)


def _document_kind(value: str) -> str:
    if value not in DOCUMENT_KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(DOCUMENT_KINDS)}", param_hint="--kind")
    return value


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "-k",
            callback=_document_kind,
            help="Which document: the spec (goldenpath.yaml), an evaluation (evaluation.json), "
            "a gate decision, or a monitoring report.",
        ),
    ] = "spec",
    json_output: Annotated[
        bool, typer.Option("--json", help="Accepted for uniformity: the output is JSON anyway.")
    ] = False,
) -> None:
    """Print the JSON Schema of goldenpath.yaml or of a document goldenpath writes."""
    from goldenpath.reports.schemas import document_schema

    text = document_schema(cast(DocumentKind, kind))
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        message = f"cannot write {output}: {exc.strerror}"
        raise typer.BadParameter(message, param_hint="--output") from None


def _tls_options(certfile: Path | None, keyfile: Path | None) -> dict[str, str]:
    """uvicorn's TLS options: none without files, both files checked (they exist, and the key
    matches the certificate) before anything starts; typer.BadParameter otherwise."""
    if certfile is None and keyfile is None:
        return {}
    if certfile is None or keyfile is None:
        given, missing = ("--ssl-certfile", "--ssl-keyfile")
        if certfile is None:
            given, missing = missing, given
        raise typer.BadParameter(
            f"{given} needs {missing} too: HTTPS takes a certificate and its private key",
            param_hint=missing,
        )
    import ssl

    for path, hint in ((certfile, "--ssl-certfile"), (keyfile, "--ssl-keyfile")):
        if not path.is_file():
            raise typer.BadParameter(f"no file {path}", param_hint=hint)
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # an empty passphrase: an encrypted key is refused here instead of prompting for one
        context.load_cert_chain(certfile, keyfile, password="")
    except (ssl.SSLError, OSError) as exc:
        message = (
            f"cannot use {certfile} with {keyfile} ({exc.strerror or exc}): both must be PEM, "
            "and the key must be the certificate's (a passphrase-protected key is not supported)"
        )
        raise typer.BadParameter(message, param_hint="--ssl-certfile") from None
    return {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}


@app.command()
def serve(
    project: ProjectOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each batches alone).")
    ] = 1,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option("--ssl-certfile", help="Serve HTTPS with this PEM certificate (chain)."),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option("--ssl-keyfile", help="The PEM private key of --ssl-certfile."),
    ] = None,
) -> None:
    """Serve the champion (and the challenger, as the spec's serving section says) over HTTP,
    or HTTPS with --ssl-certfile and --ssl-keyfile.

    POST /predict, /invocations (MLflow), /v2/models/NAME/infer (Open Inference Protocol),
    /feedback; GET /metrics (Prometheus), /version, /docs. serving.auth: auto (the default)
    asks for API clients' tokens unless --host is loopback. Stops gracefully on SIGTERM/Ctrl-C,
    writing every buffered prediction log record first.
    """
    import os

    import uvicorn

    from goldenpath.project import open_project
    from goldenpath.serving import asgi_app, create_app
    from goldenpath.serving.access import effective_mode, is_loopback
    from goldenpath.settings import SERVE_HOST_VAR, SERVE_PROJECT_VAR

    tls = _tls_options(ssl_certfile, ssl_keyfile)
    out = Output(False)
    with out.working("Reading the spec"):
        proj = open_project(project)
    options: dict[str, Any] = {
        **tls,
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": 30,
        # serving.limits that uvicorn enforces: idle keep-alive connections are closed, and
        # past max_connections open connections (or requests in progress) uvicorn answers 503
        "timeout_keep_alive": proj.spec.serving.limits.keep_alive_seconds,
        "limit_concurrency": proj.spec.serving.limits.max_connections,
    }
    auth = effective_mode(proj.spec.serving.auth, host)
    open_note = "" if auth == "token" else ": anyone who reaches it may call it"
    out.stderr.print(
        f"Serving [bold]{proj.name}[/] on {'https' if tls else 'http'}://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); docs at /docs, metrics at /metrics; "
        f"auth {auth}{open_note}",
        highlight=False,
    )
    if auth == "none" and not is_loopback(host):
        out.stderr.print(
            f"[bold yellow]warning[/]: serving.auth is none on {host}, which is not loopback"
        )
    if workers == 1:
        uvicorn.run(asgi_app(create_app(proj, host=host)), **options)
    else:
        os.environ[SERVE_PROJECT_VAR] = str(proj.root)
        os.environ[SERVE_HOST_VAR] = host
        uvicorn.run(
            "goldenpath.serving.app:app_from_environment", factory=True, workers=workers, **options
        )


@app.command()
def replay(
    url: Annotated[
        str, typer.Option("--url", help="The server's address.")
    ] = "http://127.0.0.1:8000",
    model: Annotated[
        str,
        typer.Option(
            "--model", help="Whose held-out rows to send (a run, name@alias, name/version)."
        ),
    ] = "latest",
    data: Annotated[
        str | None, typer.Option("--data", help="Send this CSV/Parquet file's rows instead.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most N rows.")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Parallel senders.")] = 4,
    feedback_share: Annotated[
        float,
        typer.Option("--feedback-share", min=0.0, max=1.0, help="Share of answers given labels."),
    ] = 0.25,
    value_column: Annotated[
        str | None,
        typer.Option(
            "--value-column",
            help="Send this numeric column's value per row with the feedback, as `values` "
            "(e.g. revenue, for experiments' value metrics).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="Send this file's API client token (scopes predict, feedback) as a bearer token.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send rows to a running server as traffic (keyed by the id column), with feedback."""
    from goldenpath.project import open_project
    from goldenpath.serving.replay import replay as replay_rows

    token = None if token_file is None else token_file.read_text().strip() or None
    out = Output(json_output)
    with out.working("Replaying rows"):
        proj = open_project(project)
        source = None if data is None or ":" in data else str(Path(data).resolve())
        result = replay_rows(
            proj,
            url,
            ref=model,
            data=source or data,
            limit=limit,
            concurrency=concurrency,
            feedback_share=feedback_share,
            token=token,
            value_column=value_column,
        )

    def render(console: Console) -> None:
        console.print(
            f"[green]✓[/] replayed {result.rows:,} rows to {result.url} in {result.seconds:.1f} s"
        )
        p50, p95 = result.latency_p50_ms, result.latency_p95_ms
        console.print(
            kv_table(
                {
                    "statuses": result.statuses,
                    "routes": result.routes,
                    "versions": result.versions,
                    "degraded": result.degraded,
                    "latency": "-" if p50 is None else f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                    "feedback sent": result.feedback_sent
                    if result.value_column is None
                    else f"{result.feedback_sent} (labels and {result.value_column} values)",
                }
            )
        )

    out.result(result.to_dict(), render)


for _command in (
    governance.gate,
    governance.promote,
    governance.approve,
    governance.rollback,
    governance.recover,
    governance.history,
    governance.card,
):
    app.command()(_command)
app.command()(monitoring.monitor)
app.command()(monitoring.alerts)
app.command()(identity.login)
app.command()(identity.logout)
app.command()(identity.whoami)
governance.users_app.add_typer(identity.token_app, name="token")
app.add_typer(governance.users_app, name="users")
app.add_typer(identity.clients_app, name="clients")
app.add_typer(identity.auth_app, name="auth")
app.add_typer(governance.audit_app, name="audit")
app.add_typer(gates.gates_app, name="gates")
app.add_typer(experiments.experiment_app, name="experiment")
app.add_typer(incident.incident_app, name="incident")


def main() -> None:
    """Console-script entry point."""
    app()
