"""The reconciler: makes the workers that run in this server match the endpoints in the store.

Endpoint handlers write desired state only; the reconciler notices (woken by endpoint changes, and
every ``interval`` seconds for changes made by other servers on the same database), deploys each
endpoint's current change through the ServingBackend, and reports the outcome back
(``endpoints.change_went_live`` / ``change_failed``). After a restart it finds every InService
endpoint with no workers and starts them again, verifying the artifacts' digests. It also replaces
workers that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from modelreg.config import Settings
from modelreg.sagemaker import endpoints, named
from modelreg.serving.base import ContainerSpec, DeployError, ServingBackend, VariantSpec
from modelreg.store.base import Store
from modelreg.store.rows import NamedResource
from modelreg.wakeup import Wakeup

log = logging.getLogger("modelreg.serving")


class Reconciler:
    def __init__(
        self, store: Store, settings: Settings, backend: ServingBackend, interval: float = 2.0
    ) -> None:
        self.store = store
        self.settings = settings
        self.backend = backend
        self.interval = interval
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeup = Wakeup()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wakeup.bind()
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in [self._runner, *self._tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.backend.close()

    def wake(self) -> None:
        """Run a pass soon; safe to call from any thread."""
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling endpoints failed; trying again")
            await self._wakeup.wait(self.interval)

    async def reconcile(self) -> None:
        """One pass: start a deployment for every endpoint whose change does not run here yet, stop
        endpoints that are gone, replace dead workers."""
        rows = await asyncio.to_thread(self._load_endpoints)
        present = {row.arn for row in rows}
        for row in rows:
            if row.arn in self._tasks or row.body["EndpointStatus"] == endpoints.FAILED:
                continue
            if self.backend.running_change(row.arn) != row.body["Change"]:
                self._spawn(row.arn, self._deploy(row))
        for arn in self.backend.endpoints():
            if arn not in present and arn not in self._tasks:
                self._spawn(arn, self.backend.undeploy(arn))
        await self.backend.heal()

    def _spawn(self, arn: str, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks[arn] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(arn, None)
            self.wake()

        task.add_done_callback(done)

    def _load_endpoints(self) -> list[NamedResource]:
        with self.store.read() as tx:
            return named.all_of_kind(tx, None, named.ENDPOINT)

    async def _deploy(self, row: NamedResource) -> None:
        ctx = endpoints.system_context(self.settings, self.store, row.region, "Reconcile")
        change = row.body["Change"]
        try:
            specs = await asyncio.to_thread(self._variant_specs, row)
            digests = await self.backend.deploy(row.arn, change, specs)
        except DeployError as exc:
            log.warning("endpoint %s change %s failed: %s", row.body["EndpointName"], change, exc)
            await asyncio.to_thread(endpoints.change_failed, ctx, row.name, change, str(exc))
            return
        except Exception as exc:
            log.exception("deploying endpoint %s failed", row.body["EndpointName"])
            reason = f"modelreg could not deploy this change ({type(exc).__name__}); see the server log."
            await asyncio.to_thread(endpoints.change_failed, ctx, row.name, change, reason)
            return
        recorded = {key: sha for key, sha in digests.items() if key[0]}
        await asyncio.to_thread(endpoints.change_went_live, ctx, row.name, change, recorded)

    def _variant_specs(self, row: NamedResource) -> list[VariantSpec]:
        specs = []
        with self.store.read() as tx:
            for variant in row.body["Variants"]:
                containers = []
                for c in variant["Containers"]:
                    owner = c.get("ModelPackageArn") or ""
                    uri = c.get("ModelDataUrl") or ""
                    recorded = tx.get_artifact_digest(owner, uri) if owner and uri else None
                    expected = recorded or c.get("RegisteredSha256")
                    containers.append(
                        ContainerSpec(
                            c.get("Image") or "",
                            c.get("ModelDataUrl"),
                            c.get("Environment") or {},
                            owner,
                            expected,
                        )
                    )
                specs.append(
                    VariantSpec(
                        variant["VariantName"],
                        variant["Weight"],
                        variant["InstanceCount"],
                        containers,
                        float(variant.get("StartupTimeoutSeconds") or 60),
                    )
                )
        return specs
