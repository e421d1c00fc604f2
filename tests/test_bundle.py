"""``quotaform policy bundle``: an OPA bundle of our policies and data that decides alike."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import orjson
import pytest

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from policies import load_plan
from policies.bundle import write_bundle
from policies.engine import RegorusEngine
from policies.gate import add_check_facts
from policies.normalize import normalize_plan
from provider_bridge import Catalog
from opa_server import bundle_engine, read_bundle

ROOT = Path(__file__).resolve().parent.parent
REGO = ROOT / "policies" / "rego"
CHECK = Path(__file__).resolve().parent / "fixtures" / "check"
PLATFORM = CHECK / "platform.json"
QUOTAFORM = Path(sys.executable).parent / "quotaform"


def _shipped() -> dict[str, str]:
    """Every shipped policy file, by its bundle path, read straight from the source tree."""
    found = {}
    for path in sorted(REGO.glob("*/*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        text = path.read_text()
        package = re.search(r"^package\s+(\S+)", text, re.MULTILINE)
        assert package is not None, path
        found[f"{package.group(1).replace('.', '/')}/{path.name}"] = text
    return found


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers()}


@pytest.fixture(scope="module")
def platform(catalog: Catalog) -> ResourceConfig:
    return load_config(PLATFORM, catalog)


@pytest.fixture
def bundle(tmp_path: Path, platform: ResourceConfig) -> Path:
    path = tmp_path / "bundle.tar.gz"
    write_bundle(path, data=platform.model_dump(mode="json"))
    return path


def test_bundle_paths(bundle: Path) -> None:
    names = list(_members(bundle))
    assert names[0] == ".manifest"
    assert "quotaform/rules/pool_vcpu_quota/pool_vcpu_quota.rego" in names
    assert "quotaform/lib/lib.rego" in names
    assert sorted(name for name in names if name.endswith(".rego")) == sorted(_shipped())
    assert not [name for name in names if name.endswith("_test.rego")]
    assert sorted(name for name in names if name.endswith(".json")) == [
        "quotaform/data.json", "quotaform/policy_bundle/data.json"]


def test_bundle_policies_unchanged(bundle: Path) -> None:
    members = _members(bundle)
    for name, text in _shipped().items():
        assert members[name].decode() == text, name


def test_bundle_manifest_with_data(bundle: Path, platform: ResourceConfig) -> None:
    manifest = json.loads(_members(bundle)[".manifest"])
    data_digest = hashlib.sha256(orjson.dumps(platform.model_dump(mode="json"),
                                              option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert manifest["roots"] == ["quotaform"]
    assert manifest["rego_version"] == 1
    assert manifest["metadata"]["quotaform"]["data_digest"] == f"sha256:{data_digest}"
    assert re.fullmatch(r"[0-9a-f]{16}-" + data_digest[:16], manifest["revision"])


def test_bundle_policies_digest(bundle: Path) -> None:
    digest = hashlib.sha256()
    for path in sorted(REGO.glob("*/*.rego")):
        if not path.name.endswith("_test.rego"):
            name = f"{path.parent.name}/{path.name}"
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    members = _members(bundle)
    status = json.loads(members["quotaform/policy_bundle/data.json"])
    manifest = json.loads(members[".manifest"])
    assert status == {"policies_digest": f"sha256:{digest.hexdigest()}"}
    assert manifest["metadata"]["quotaform"]["policies_digest"] == status["policies_digest"]


def test_bundle_data_at_quotaform(bundle: Path, platform: ResourceConfig) -> None:
    _, _, data = read_bundle(bundle)
    status = data["quotaform"].pop("policy_bundle")
    assert set(status) == {"policies_digest"}
    assert data == {"quotaform": json.loads(platform.model_dump_json())}


def test_policies_only_bundle_leaves_data_root_free(tmp_path: Path) -> None:
    path = tmp_path / "policies.tar.gz"
    write_bundle(path)
    manifest = json.loads(_members(path)[".manifest"])
    assert "quotaform" not in manifest["roots"]
    assert {"quotaform/rules", "quotaform/lib", "quotaform/policy_bundle"} <= set(
        manifest["roots"])
    assert "quotaform/data.json" not in _members(path)
    assert "data_digest" not in manifest["metadata"]["quotaform"]


def test_bundle_is_reproducible(tmp_path: Path, platform: ResourceConfig) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_bundle(first, data=platform.model_dump(mode="json"))
    write_bundle(second, data=platform.model_dump(mode="json"))
    assert first.read_bytes() == second.read_bytes()


def test_bundle_replaces_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"old")
    write_bundle(path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["bundle.tar.gz"]


def test_bundle_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist; create it first"):
        write_bundle(tmp_path / "absent" / "bundle.tar.gz")


def test_roots_check_rejects_stray_package(tmp_path: Path) -> None:
    """The test loader enforces roots as OPA does, so the bundle tests above can fail."""
    path = tmp_path / "stray.tar.gz"
    write_bundle(path)
    members = _members(path)
    members["other/x.rego"] = b"package other\n"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    with pytest.raises(ValueError, match="package path other is outside the roots"):
        read_bundle(path)


def test_bundle_decides_like_the_engine(bundle: Path, catalog: Catalog,
                                        platform: ResourceConfig) -> None:
    policy_input = normalize_plan(load_plan(CHECK / "plan_api_scale_out.json"), platform,
                                  catalog)
    add_check_facts(policy_input, platform, catalog, None)
    document = policy_input.model_dump(mode="json")

    _, policies, data = read_bundle(bundle)
    engine = bundle_engine(policies, data)
    engine.set_input_json(json.dumps(document))
    result = json.loads(engine.eval_query_as_json("data.quotaform.rules"))
    packages = result["result"][0]["expressions"][0]["value"]
    from_bundle = [item for package in packages.values() for item in package.get("deny", [])]

    expected = RegorusEngine().evaluate(document, platform.model_dump(mode="json"))
    assert sorted(map(orjson.dumps, from_bundle)) == sorted(map(orjson.dumps, expected))
    assert sorted(item["rule"] for item in from_bundle) == ["pool-instance-quota",
                                                            "pool-vcpu-quota"]


def test_cli_bundle_writes_file(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.gz"
    result = subprocess.run([str(QUOTAFORM), "policy", "bundle", "-o", str(path), "--data",
                             str(PLATFORM)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"wrote {path}: {len(_shipped())} policies and the data of "
                             f"{PLATFORM}; load it with 'opa run --server bundle.tar.gz'\n")
    assert "quotaform/data.json" in _members(path)


def test_cli_bundle_invalid_data_exits_2(tmp_path: Path) -> None:
    data = tmp_path / "quotaform.json"
    data.write_text('{"version": 1, "allocation": {"pools": [{"name": "api"}]}}')
    path = tmp_path / "bundle.tar.gz"
    result = subprocess.run([str(QUOTAFORM), "policy", "bundle", "-o", str(path), "--data",
                             str(data)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"{data}: invalid declaration" in result.stderr
    assert "Traceback" not in result.stderr
    assert not path.exists()
