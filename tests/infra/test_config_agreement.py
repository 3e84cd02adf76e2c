"""The configuration table has one source, ``detector.config.VARIABLES``: README's table is it,
``Settings`` reads nothing else, and the template's parameters take what ``Settings`` accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from detector.config import VARIABLES, Settings, Variable, markdown_table
from tests.infra import templates

README = Path(__file__).resolve().parents[2] / "README.md"
TEMPLATE = templates.load(templates.DETECTOR_TEMPLATE)
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
ENVIRONMENT: dict[str, Any] = next(
    iter(templates.resources_of_type(TEMPLATE, "AWS::Lambda::Function").values())
)["Properties"]["Environment"]["Variables"]
FROM_TEMPLATE = [v for v in VARIABLES if v.parameter is not None]
# Parameters that take less than the variable does, with values they take (each must load).
NARROWER = {
    # Only a full ARN in us-east-1 (the stack's region), where the variable also takes a name.
    "SlackSecretArn": [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:root-key-detector/slack-AbCdEf",
        "arn:aws-us-gov:secretsmanager:us-east-1:123456789012:secret:s-123456",
    ],
    # Only a full ARN in us-east-1, as SlackSecretArn.
    "SlackSigningSecretArn": [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:root-key-detector/sign-AbCdEf",
    ],
    # Only https (Lambda has no loopback emulator to talk to).
    "SlackApiUrl": ["https://slack.com/api/", "https://slack.example.com/api"],
}
INTERACTIVE = {
    "SLACK_INTERACTIVITY": "true",
    "SLACK_TEAM_ID": "T0123ABCD",
    "SLACK_RESPONDERS": "U0123ABCD",
}
BOT = {
    "AWS_REGION": "us-east-1",
    "LEDGER_TABLE": "ledger",
    "SLACK_TOKEN_SECRET_ID": "token",
    "SLACK_CHANNEL_ID": "C0123ABCD",
}


def test_readme_table_is_the_variables() -> None:
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    assert markdown_table() in section, (
        "README's configuration table differs from detector.config.VARIABLES; paste this:\n"
        + markdown_table()
    )


class _Recording(Mapping[str, str]):
    """An environment that remembers every name read from it."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.read = values, set[str]()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def test_settings_reads_every_variable_and_nothing_else() -> None:
    env = _Recording(dict(BOT))
    Settings.from_env(env)
    named = {v.name for v in VARIABLES} - {"AWS_ENDPOINT_URL"}  # boto3 reads that one
    assert env.read == named


DEFAULTED = [v for v in VARIABLES if v.default is not None]


@pytest.mark.parametrize("var", DEFAULTED, ids=lambda v: v.name)
def test_a_default_is_a_value_the_variable_takes(var: Variable) -> None:
    assert Settings.from_env({**BOT, var.name: str(var.default)}) == Settings.from_env(BOT)


@pytest.mark.parametrize("var", FROM_TEMPLATE, ids=lambda v: v.name)
def test_the_parameter_sets_the_variable_and_names_it(var: Variable) -> None:
    assert var.parameter in PARAMETERS
    assert {"Ref": var.parameter} in list(_nodes(ENVIRONMENT[var.name]))
    assert var.name in PARAMETERS[var.parameter]["Description"]


@pytest.mark.parametrize("var", FROM_TEMPLATE, ids=lambda v: v.name)
def test_the_parameter_takes_what_settings_takes(var: Variable) -> None:
    param = PARAMETERS[str(var.parameter)]
    if var.choices:
        assert param["AllowedValues"] == list(var.choices)
    if var.low is not None:
        assert (param["MinValue"], param["MaxValue"]) == (var.low, var.high)
    if var.default is not None and "Default" in param and param["Default"] != "":
        assert str(param["Default"]) == var.default
    if var.pattern is None or var.parameter in NARROWER:
        return
    item = var.pattern
    whole = f"^{item}$" if var.separator is None else f"^{item}({var.separator}{item})*$"
    assert param["AllowedPattern"] in {whole, f"^$|{whole}"}


@pytest.mark.parametrize("name", sorted(NARROWER))
def test_a_narrower_parameter_takes_only_values_settings_takes(name: str) -> None:
    pattern = PARAMETERS[name]["AllowedPattern"]
    vars_ = [v for v in FROM_TEMPLATE if v.parameter == name]
    assert vars_
    for value in NARROWER[name]:
        assert re.search(pattern, value), value
        for var in vars_:
            mode = {"SLACK_WEBHOOK_SECRET_ID": "webhook"}.get(var.name, "bot")
            env = {**BOT, "SLACK_MODE": mode, var.name: value}
            if var.name == "SLACK_SIGNING_SECRET_ID":
                env.update(INTERACTIVE)
            got: Any = Settings.from_env(env)
            for part in _FIELDS[var.name].split("."):
                got = getattr(got, part)
            assert str(got).rstrip("/") == value.rstrip("/")


_FIELDS = {
    "SLACK_SIGNING_SECRET_ID": "interactivity.signing_secret_id",
    "SLACK_TOKEN_SECRET_ID": "slack_token_secret_id",
    "SLACK_WEBHOOK_SECRET_ID": "slack_webhook_secret_id",
    "SLACK_API_URL": "slack_api_url",
}


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


# README's "Deploying to AWS" table: make variable -> template parameter -> default.
_DEPLOY_ROW = re.compile(r"^\| (?P<make>[^|]*) \| (?P<param>[^|]*) \| (?P<default>[^|]*) \|")
_MAKE_DEFAULT = re.compile(r"^(?P<name>[A-Z_]+) \?= ?(?P<value>.*)$", re.MULTILINE)
# Defaults README states that are not the template's own (the parameter has none to state).
_NOT_THE_TEMPLATES = {"CodeBucket": "(required)", "CodeKey": "`root-key-detector`"}


def _deploy_rows() -> dict[str, tuple[list[str], str]]:
    section = README.read_text().split("\n### Parameters\n", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, tuple[list[str], str]] = {}
    for line in section.splitlines():
        match = _DEPLOY_ROW.match(line)
        param = re.fullmatch(r"`(\w+)`", match["param"].strip()) if match else None
        if match and param:
            make = re.findall(r"`([A-Z_]+)`", match["make"])
            rows[param[1]] = (make, match["default"].strip())
    return rows


def _stated(default: Any) -> str:
    return "—" if default in (None, "") else f"`{default}`"


def test_readmes_deploy_table_names_every_parameter_with_the_templates_default() -> None:
    rows = _deploy_rows()
    assert sorted(rows) == sorted(PARAMETERS), "README's Parameters table and the template differ"
    for name, (_, default) in rows.items():
        expected = _NOT_THE_TEMPLATES.get(name) or _stated(PARAMETERS[name].get("Default"))
        assert default == expected, f"{name}: README says {default}, the template {expected}"


def test_the_make_variables_default_to_what_readme_says() -> None:
    makefile = (README.parent / "infra" / "infra.mk").read_text()
    make_defaults = {m["name"]: m["value"].strip() for m in _MAKE_DEFAULT.finditer(makefile)}
    for name, (make, default) in _deploy_rows().items():
        for variable in make:
            value = make_defaults[variable]
            if value.startswith("$("):  # an alias of another variable (SLACK_SECRET_ARN)
                continue
            assert _stated(value) == default or (default == "(required)" and not value), (
                f"{variable} ({name}): infra.mk says {value!r}, README {default}"
            )
