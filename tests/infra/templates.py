"""Read the CloudFormation templates in infra/ as plain data (short-form tags expanded)."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

INFRA = Path(__file__).resolve().parents[2] / "infra"
DETECTOR_TEMPLATE = INFRA / "detector.yaml"
MEMBER_TEMPLATE = INFRA / "member.yaml"
ROOT_ACCESS_TEMPLATE = INFRA / "root-access.yaml"


def infra_script(name: str) -> ModuleType:
    """``infra/<name>.py`` (a script, not a package), loaded by path once."""
    module = sys.modules.get(f"infra_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"infra_{name}", INFRA / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"infra_{name}"] = module
        spec.loader.exec_module(module)
    return module


def load(path: Path) -> dict[str, Any]:
    """The template at ``path`` as a dict (long-form intrinsic functions), read as
    ``make plan`` reads it (infra/deploy.py)."""
    doc: dict[str, Any] = infra_script("deploy").load_template(path)
    return doc


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of ``resource_type``."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass
class Deployment:
    """A template as CloudFormation would deploy it with ``parameters``: conditions evaluated,
    ``Fn::If``, ``Ref``, ``Fn::Sub``, ``Fn::FindInMap`` and ``Fn::Join`` resolved.

    A resource's ``Ref`` gives ``resources[logical_id]`` when given (a name the sandbox uses
    instead), else ``<logical_id>``; ``Fn::GetAtt`` gives ``<logical_id.Attribute>``.
    """

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    account: str = "123456789012"
    region: str = "us-east-1"
    stack_name: str = "root-key-detector"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        assert not unknown, f"no such parameters: {sorted(unknown)}"
        values = {name: str(p["Default"]) for name, p in declared.items() if "Default" in p}
        self.values = {**values, **self.parameters}
        missing = set(declared) - set(self.values)
        assert not missing, f"parameters without a value: {sorted(missing)}"

    def condition(self, name: str) -> bool:
        """Whether the template's condition ``name`` holds."""
        return bool(self._resolve(self.template["Conditions"][name]))

    def exists(self, logical_id: str) -> bool:
        """Whether the resource is created (its Condition, if any, holds)."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's resolved properties."""
        assert self.exists(logical_id), logical_id
        props: dict[str, Any] = self._resolve(self.template["Resources"][logical_id]["Properties"])
        return props

    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic function resolved."""
        return self._resolve(node)

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.values:
            return self.values[name]
        assert name in self.template["Resources"], f"Ref to nothing: {name}"
        return self.resources.get(name, f"<{name}>")

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return f"<{name}>"
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def _resolve(self, node: Any) -> Any:  # noqa: PLR0912 - one case per function
        if isinstance(node, list):
            return [v for v in (self._resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::If":
                return self._resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Equals":
                left, right = (self._resolve(x) for x in arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._resolve(arg[0])
            if fn == "Fn::And":
                return all(self._resolve(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._resolve(x) for x in arg)
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))
                return self._sub(text, extra)
            if fn == "Fn::FindInMap":
                mapping, top, second = (self._resolve(x) for x in arg)
                return self.template["Mappings"][mapping][str(top)][second]
            if fn == "Fn::Join":
                separator, items = arg
                return separator.join(str(x) for x in self._resolve(items))
            if fn == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
        return {
            k: v for k, v in ((k, self._resolve(v)) for k, v in node.items()) if v is not NO_VALUE
        }


@dataclass(frozen=True)
class Grant:
    """One action a role's policies allow, and the statement that allows it."""

    role: str  # the role's logical id
    policy: str  # the logical id of the role (inline policy) or of the AWS::IAM::Policy
    action: str
    statement: dict[str, Any]


def grants(deployment: Deployment) -> list[Grant]:
    """Every Allow action of every IAM role the deployment creates, by role.

    Covers roles' inline ``Policies`` and ``AWS::IAM::Policy`` resources attached to roles of the
    same template; a managed policy (which could not be read here) fails the call.
    """
    found: list[Grant] = []
    template = deployment.template
    for lid, resource in template["Resources"].items():
        if not deployment.exists(lid):
            continue
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            props = deployment.properties(lid)
            assert "ManagedPolicyArns" not in props, lid
            documents = [(lid, p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif kind == "AWS::IAM::Policy":
            props = deployment.properties(lid)
            roles = [r["Ref"] for r in template["Resources"][lid]["Properties"]["Roles"]]
            documents = [(role, props["PolicyDocument"]) for role in roles]
        else:
            continue
        for role, document in documents:
            for statement in document["Statement"]:
                assert statement["Effect"] == "Allow", (lid, statement)
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    found.append(Grant(role, lid, action, statement))
    return found


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ``ArnLike``: each of the six colon-separated parts matched on its own, where
    ``*`` is any run of characters and ``?`` any one ("IAM JSON policy elements: Condition
    operators", Amazon Resource Name (ARN) condition operators)."""
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(
        re.fullmatch(".*".join(".".join(map(re.escape, p.split("?"))) for p in w.split("*")), a)
        is not None
        for w, a in zip(wanted, actual, strict=True)
    )
