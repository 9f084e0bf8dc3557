"""The API of zonal-operator, one layer: what both kinds share (group.py: group, version,
labels, patterns, the timestamp format; fields.py: what the API is written in; selector.py:
the one LabelSelector), the kinds side by side (workload.py with rollout.py and template.py,
zoneshift.py) and both kinds' status (status.py). hack/gen_crd.py renders the CRDs from it."""
