"""The ``modelreg`` command as an operator uses it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from botocore.exceptions import ClientError

from modelreg import __version__
from modelreg.cli import main
from modelreg.store import migrate
from tests.conftest import client
from tests.server import Server, free_port


def modelreg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_version_and_help() -> None:
    assert modelreg("--version").stdout.strip() == f"modelreg, version {__version__}"
    help_text = modelreg("serve", "--help").stdout
    for option in ("--host", "--port", "--data-dir", "--store", "--auth", "--keys", "--account-id"):
        assert option in help_text


def test_every_serve_option_is_in_the_configuration_page() -> None:
    """docs/configuration.md lists every option of ``modelreg serve`` with its variable."""
    page = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| `--")}
    serve = main.commands["serve"]
    missing = []
    for param in serve.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        flag = max(param.opts, key=len)
        row = next((line for first, line in rows.items() if first.strip("`").split()[0] == flag), None)
        variable = re.search(r"\[env (MODELREG_[A-Z_]+)", param.help or "")
        if row is None or (variable and variable.group(1) not in row):
            missing.append(flag)
    assert not missing, f"options missing from docs/configuration.md (or without their variable): {missing}"


@pytest.mark.parametrize(
    ("args", "variables", "said"),
    [
        (["--port", "99999"], {}, "Invalid value for '--port': 99999 is not in the range 1<=x<=65535."),
        (["--port", "0"], {}, "Invalid value for '--port': 0 is not in the range 1<=x<=65535."),
        ([], {"MODELREG_PORT": "http"}, "Invalid value for '--port': 'http' is not a valid integer range."),
        (["--retry-base-seconds", "-1"], {}, "'--retry-base-seconds': -1.0 is not in the range 0<x<=300"),
        (["--retry-base-seconds", "nan"], {}, "Invalid value for '--retry-base-seconds': not a number"),
        ([], {"MODELREG_RETRY_BASE_SECONDS": "soon"}, "'soon' is not a valid float range."),
    ],
)
def test_a_port_or_retry_delay_out_of_range_is_a_usage_error(
    tmp_path: Path, args: list[str], variables: dict[str, str], said: str
) -> None:
    """Before, port 99999 printed the line to paste and hung, and a bad variable was a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "serve", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **variables},
    )
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert "AWS_ENDPOINT_URL" not in result.stdout


def test_auth_none_refuses_a_public_address(tmp_path: Path) -> None:
    result = modelreg("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert result.returncode != 0
    assert "loopback only" in result.stderr


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"], ["events", "signing-key"]])
@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("mysql://admin:s3cret@db.example/registry", "this is a mysql:// URL"),
        ("registry.db", "this is not a URL"),
        ("postgresql://admin:s3cret@db:notaport/registry", "this is not a database URL"),
    ],
)
def test_a_store_url_modelreg_cannot_use_is_refused_without_its_password(
    tmp_path: Path, command: list[str], store: str, said: str
) -> None:
    result = modelreg(*command, "--data-dir", str(tmp_path), "--store", store)
    assert result.returncode == 2  # click's usage error
    assert "Invalid value for '--store'" in result.stderr and said in result.stderr
    assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"], ["events", "signing-key"]])
def test_a_database_that_cannot_be_reached_ends_the_command_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    port = free_port()  # nothing listens there
    result = modelreg(*command, "--store", f"postgresql://admin:s3cret@127.0.0.1:{port}/registry")
    assert result.returncode == 1
    where = f"postgresql://admin:***@127.0.0.1:{port}/registry"
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot use the database {where}: connection failed: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    ]
    (tmp_path / "modelreg.db").mkdir()  # SQLite cannot open a folder as its database
    result = modelreg(*command, "--data-dir", str(tmp_path))
    assert result.returncode == 1
    where = tmp_path / "modelreg.db"
    assert result.stderr.strip() == f"Error: cannot use the database {where}: unable to open database file"


@pytest.mark.parametrize(
    "command",
    [
        ["events", "deliveries"],
        ["events", "redeliver", "1"],
        ["policy", "show", "g"],
        ["compare", "g", "1", "2"],
        ["rollback", "endpoint"],
    ],
)
def test_a_server_that_cannot_be_reached_ends_the_command_in_one_line(command: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = modelreg(*command, "--endpoint", endpoint)
    assert result.returncode == 1
    refused = f"Error: cannot reach modelreg at {endpoint}: [Errno 111] Connection refused"
    assert result.stderr.strip() == refused


def test_serve_prints_the_line_to_paste(tmp_path: Path) -> None:
    server = Server(tmp_path).start()
    try:
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{server.port}" in server.log()
        assert (tmp_path / "modelreg.db").exists()
    finally:
        server.stop()


def test_a_sqlite_store_url_is_the_database_the_server_names_and_upgrades(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "registry.db"
    created = modelreg("db", "upgrade", "--store", f"sqlite:///{database}")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines() == [f"schema: empty -> {migrate.head_revision()}"]
    (tmp_path / "data").mkdir()
    server = Server(tmp_path / "data", args=["--store", f"sqlite:///{database}"]).start()
    try:
        assert f"(store: {database}, auth: none)" in server.log()
        client(server.url).create_model_package_group(ModelPackageGroupName="kept-elsewhere")
    finally:
        server.stop()
    assert not (tmp_path / "data" / "modelreg.db").exists()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name FROM model_package_groups").fetchall() == [("kept-elsewhere",)]


def test_account_id_is_configurable(tmp_path: Path) -> None:
    server = Server(tmp_path, args=["--account-id", "210987654321"]).start()
    try:
        arn = client(server.url).create_model_package_group(ModelPackageGroupName="g")["ModelPackageGroupArn"]
        assert arn == "arn:aws:sagemaker:us-east-1:210987654321:model-package-group/g"
    finally:
        server.stop()


@pytest.mark.parametrize("account", ["12345", "\u0661" * 12])  # too short; Arabic-Indic digits
def test_an_account_id_must_be_12_ascii_digits(tmp_path: Path, account: str) -> None:
    result = modelreg("serve", "--account-id", account, "--data-dir", str(tmp_path))
    assert result.returncode != 0 and "--account-id must be 12 digits" in result.stderr


def test_db_upgrade_creates_and_leaves_a_current_schema_alone(tmp_path: Path) -> None:
    first = modelreg("db", "upgrade", "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"schema: empty -> {migrate.head_revision()}"]  # nothing to back up
    second = modelreg("db", "upgrade", "--data-dir", str(tmp_path))
    assert second.returncode == 0, second.stderr
    head = migrate.head_revision()
    assert second.stdout.splitlines() == [f"schema: {head}, the current one; nothing to do"]
    assert not list(tmp_path.glob("modelreg.db.*.bak"))


def test_an_out_of_date_database_is_refused_until_upgraded(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'modelreg.db'}")
    with engine.begin() as conn:  # a database made by the first release: schema revision 0001
        command.upgrade(migrate._config(conn), "0001")
        conn.exec_driver_sql(
            "INSERT INTO model_package_groups (region, key, name, arn, created_us, last_version, "
            "last_created_us, body) VALUES ('us-east-1', 'old', 'old', 'arn:old', 1, 0, 0, "
            '\'{"ModelPackageGroupName": "old", "ModelPackageGroupStatus": "Completed"}\')'
        )
    engine.dispose()
    result = modelreg("serve", "--data-dir", str(tmp_path), "--port", "1")
    assert result.returncode != 0
    assert "modelreg db upgrade" in result.stderr
    upgraded = modelreg("db", "upgrade", "--data-dir", str(tmp_path))
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"0001 -> {migrate.head_revision()}" in upgraded.stdout
    backups = list(tmp_path.glob("modelreg.db.*.bak"))
    said = upgraded.stdout.splitlines()[1:]
    assert said == [f"backup of the previous database: {path}" for path in backups]
    with sa.create_engine(f"sqlite:///{backups[0]}").connect() as conn:  # the database as it was
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
        assert conn.exec_driver_sql("SELECT name FROM model_package_groups").scalars().all() == ["old"]
    server = Server(tmp_path).start()
    try:
        sm = client(server.url)
        assert sm.describe_model_package_group(ModelPackageGroupName="old")["ModelPackageGroupName"] == "old"
        arn = sm.create_model_package(
            ModelPackageGroupName="old", InferenceSpecification={"Containers": [{"Image": "img:1"}]}
        )["ModelPackageArn"]
        assert arn.endswith("/old/1")  # the upgraded schema takes new versions (and their events)
    finally:
        server.stop()


def test_sigv4_mode_verifies_every_request(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            {"keys": [{"access_key_id": "AKIAALICE", "secret_access_key": "alice-secret", "user": "alice"}]}
        )
    )
    server = Server(tmp_path, args=["--auth", "sigv4", "--keys", str(keys)]).start()
    try:
        good = client(server.url, access_key="AKIAALICE", secret="alice-secret")
        good.create_model_package_group(ModelPackageGroupName="signed")
        assert (
            good.describe_model_package_group(ModelPackageGroupName="signed")["CreatedBy"]["UserProfileName"]
            == "alice"
        )
        for key, secret, code in [
            ("AKIAALICE", "wrong", "InvalidSignatureException"),
            ("AKIAMALLORY", "x", "UnrecognizedClientException"),
        ]:
            with pytest.raises(ClientError) as exc:
                client(server.url, access_key=key, secret=secret).list_model_package_groups()
            assert exc.value.response["Error"]["Code"] == code
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        import httpx

        unsigned = httpx.post(
            server.url + "/",
            content=b"{}",
            headers={
                "X-Amz-Target": "SageMaker.ListModelPackageGroups",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        assert unsigned.status_code == 403
        assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"
        # modelreg's own /api is guarded too, and the CLI signs with the caller's credentials
        assert httpx.get(server.url + "/api/deliveries").status_code == 403
        assert (
            httpx.delete(server.url + "/api/model-package-groups/signed/promotion-policy").status_code == 403
        )
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"gates": [{"metric": "auc", "min": 0.8}]}))
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "AKIAALICE",
            "AWS_SECRET_ACCESS_KEY": "alice-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        for args in (
            ["policy", "set", "signed", str(policy)],
            ["policy", "show", "signed"],
            ["events", "deliveries", "--json"],
        ):
            out = subprocess.run(
                [sys.executable, "-m", "modelreg.cli", *args, "--endpoint", server.url],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert out.returncode == 0, (args, out.stderr)
        wrong = {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}
        out = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "policy", "show", "signed", "--endpoint", server.url],
            capture_output=True,
            text=True,
            env=wrong,
            timeout=60,
        )
        assert out.returncode != 0 and "signature we calculated does not match" in out.stderr
        assert "alice-secret" not in server.log()
    finally:
        server.stop()


def test_the_aws_cli_works_unchanged(server) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "cli-user",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    aws = [sys.executable, "-m", "awscli"]

    def run(*args: str) -> dict:
        out = subprocess.run(
            [*aws, "sagemaker", *args, "--endpoint-url", server.url, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    run("create-model-package-group", "--model-package-group-name", "cli-group")
    arn = run(
        "create-model-package",
        "--model-package-group-name",
        "cli-group",
        "--inference-specification",
        json.dumps(
            {
                "Containers": [{"Image": "img:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            }
        ),
    )["ModelPackageArn"]
    run("update-model-package", "--model-package-arn", arn, "--model-approval-status", "Approved")
    listed = run(
        "list-model-packages",
        "--model-package-group-name",
        "cli-group",
        "--model-approval-status",
        "Approved",
    )
    assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [arn]
    assert (
        run("describe-model-package", "--model-package-name", arn)["CreatedBy"]["UserProfileName"]
        == "cli-user"
    )
