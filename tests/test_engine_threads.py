"""The default engine on several threads, as the Terraform provider reads data sources."""

from __future__ import annotations

import threading
from pathlib import Path

from cdk.model import load_config
from policies import check_config
from policies.engine import default_engine
from provider_bridge.catalog import Catalog

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "check"


def test_default_engine_is_per_thread() -> None:
    main_engine = default_engine()
    # The thread's engine must not leave its thread: regorus engines are unsendable.
    seen: dict[str, bool] = {}

    def compare() -> None:
        engine = default_engine()
        seen["reused"] = engine is default_engine()
        seen["own"] = engine is not main_engine

    thread = threading.Thread(target=compare)
    thread.start()
    thread.join()

    assert seen["reused"] is True
    assert seen["own"] is True


def test_check_config_on_parallel_threads(catalog: Catalog) -> None:
    config = load_config(FIXTURES / "platform.json", catalog)
    expected = check_config(config, catalog)
    results: list[object] = []
    errors: list[BaseException] = []

    def check() -> None:
        try:
            results.append(check_config(config, catalog))
        except BaseException as exc:  # noqa: BLE001 - the assert below reports it
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 4
    for decision in results:
        assert decision.allowed == expected.allowed
        assert decision.violations == expected.violations
