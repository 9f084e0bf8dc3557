"""The test kit: what the test suites share, so that no test module imports another (the
shape of Kruise's test/e2e/framework beside test/e2e/apps).

For the unit tests:

- perzone_sim: the PerZone `Sim`, the workload and node builders, `random_state` and the
  safety claim over it.
- spread_sim: the Spread `SpreadSim`.
- wave_sim: `WaveSim` (zone-by-zone rollouts) and its fixtures.
- zoneshifts: `shift`, a started ZoneShift.
- fake_kube: `FakeKube` and the fake APIs of the status delay and the ZoneShift status
  controller.
- examples: the repository's example ZonalWorkload, as a body and parsed.

For the end-to-end suites:

- e2e: clusters and operators for a fixture's lifetime, reading and waiting, ZonalWorkloads
  and their split, the fast failover settings, outages, samplers of Ready replicas,
  ZoneShifts, and the quiet-watch check (tests/e2e/ and tests/kind/).
- kind: the kind cluster of the kind suite (kubectl, helm and docker against it, zone
  outages by `docker pause`).

What also the benchmarks use (the operator process, its metrics, workload bodies, the local
cluster) is in hack/testkit/ and hack/localcluster/, which know nothing of pytest.
"""

import pytest

# Their asserts are the tests' own (Sim.plan's invariants, the safety claim): rewritten as
# pytest rewrites a test module's, they report the values that failed.
pytest.register_assert_rewrite(
    "tests.kit.e2e",
    "tests.kit.examples",
    "tests.kit.fake_kube",
    "tests.kit.kind",
    "tests.kit.perzone_sim",
    "tests.kit.spread_sim",
    "tests.kit.wave_sim",
    "tests.kit.zoneshifts",
)
