"""Record BasicSR's learning-rate schedulers ONCE with its own code (run by a person, never by the test suite):

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR   # recorded at commit 8d56e3a
    python3 tests/models/record_basicsr_lr.py /tmp/BasicSR

Loads basicsr/models/lr_scheduler.py alone (it imports only torch) and prints, as JSON, the rate of each iteration
(the rate after k scheduler steps = the rate BasicSR trains iteration k + 1 at) for the MultiStepRestartLR that its
`MultiStepLR` option builds and for CosineAnnealingRestartLR, on the small cases tests/models/test_sr_schedule.py uses.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import torch

CASES = {
    "multistep": ("MultiStepRestartLR", dict(milestones=[3, 7], gamma=0.5), 12),
    "cosine_restart": ("CosineAnnealingRestartLR", dict(periods=[10, 10, 6], restart_weights=[1, 0.5, 0.25], eta_min=1e-7), 27),
}


def main(root: str) -> None:
    spec = importlib.util.spec_from_file_location("basicsr_lr_scheduler", f"{root}/basicsr/models/lr_scheduler.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = {}
    for name, (cls, kwargs, n) in CASES.items():
        opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
        sched = getattr(mod, cls)(opt, **kwargs)
        rates = []
        for k in range(n):
            rates.append(opt.param_groups[0]["lr"])
            if k < n - 1:  # BasicSR's cosine scheduler has no rate past its last period
                opt.step()
                sched.step()
        out[name] = rates
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/BasicSR")
