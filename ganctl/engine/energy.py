"""Energy and carbon of a run (or of one heavy command), measured with codecarbon's offline tracker (extra
`ganctl[energy]`; no network: the grid's carbon intensity comes from codecarbon's bundled country table).

What codecarbon measures, and how (recorded next to every number as `method`, so an estimate never passes for a
measurement): GPU energy from NVML's total-energy counter where a GPU is present; CPU energy from RAPL
(/sys/class/powercap) where readable, otherwise its documented fallback, a TDP-table power (4 W per thread for unknown
CPUs) scaled by CPU load; RAM from an estimate per memory slot. Emissions = kWh x the country's grid intensity.

codecarbon's start-up sleeps ~3.5 s (hardware probing) and each reading ~0.6 s (CPU load sampling), so the tracker
lives in a background thread: training never waits for it; each tick reads the latest reading (at most one tick old),
and the run's total comes from the final reading at close. A run shorter than the start-up records no energy.

Totals are kept in each checkpoint's metadata (`energy`): a resumed run starts from the checkpoint's totals and adds
its own, so the figure accumulates over interruptions and never resets.

Config `train.energy`: true (default; world-average intensity), false, or {country: ISO3}, e.g. {country: FRA}.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

from ganctl.errors import UsageError

MISSING = "energy not recorded: codecarbon is not installed (pip install 'ganctl[energy]'); set train.energy=false to silence this"
_FIELDS = ("kwh", "co2_kg", "cpu_kwh", "gpu_kwh", "ram_kwh", "seconds")


def parse_setting(value) -> tuple[bool, str | None]:
    """train.energy -> (on, country ISO3 or None)."""
    if value is None or value is True:
        return True, None
    if value is False:
        return False, None
    if isinstance(value, dict) and set(value) <= {"country"}:
        c = value.get("country")
        if c is None or (isinstance(c, str) and len(c) == 3 and c.isalpha()):
            return True, c.upper() if c else None
    raise UsageError(f"config key train.energy: {value!r}; use true, false or {{country: ISO3}}, e.g. train.energy={{country: FRA}}")


def available() -> bool:
    try:
        import codecarbon  # noqa: F401
    except ImportError:
        return False
    return True


def _method(tracker) -> str:
    """Which source each figure comes from, in words."""
    parts = []
    for h in getattr(tracker, "_hardware", []):
        kind = type(h).__name__
        if kind == "CPU":
            mode = str(getattr(h, "_mode", ""))
            parts.append("cpu: RAPL" if "rapl" in mode.lower() else f"cpu: TDP estimate ({mode or 'constant'})")
        elif kind == "GPU":
            parts.append("gpu: NVML energy counter")
        elif kind == "RAM":
            parts.append("ram: estimate")
        elif kind == "AppleSiliconChip":
            parts.append("chip: powermetrics")
    return ", ".join(parts) or "unknown"


class EnergyMeter:
    """Tracks energy from construction to close() in a background thread; `prior` totals (from a checkpoint) add up."""

    def __init__(self, country: str | None = None, prior: dict | None = None, interval_s: float = 10.0):
        self.country = country
        self.prior = {k: float((prior or {}).get(k) or 0.0) for k in _FIELDS}
        self.method = (prior or {}).get("method")
        self._latest: dict | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._interval = interval_s
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="ganctl-energy", daemon=True)
        self._thread.start()

    def _reading(self, tracker) -> dict:
        tracker._measure_power_and_energy_if_stale()  # codecarbon 3.3.2 (pinned): flush() without writing a file
        d = tracker._prepare_emissions_data()
        return {"kwh": d.energy_consumed, "co2_kg": d.emissions, "cpu_kwh": d.cpu_energy, "gpu_kwh": d.gpu_energy,
                "ram_kwh": d.ram_energy, "seconds": d.duration}

    def _run(self) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)  # it logs INFO lines by default; the CLI renders
            if self.country:
                kw = {"country_iso_code": self.country}
            else:
                # The offline tracker needs a country; without one, force codecarbon's own world-average intensity
                # (475 g/kWh in its table) so no country's figure passes for it.
                from codecarbon.input import DataSource

                world = DataSource().get_carbon_intensity_per_source_data()["world_average"]
                kw = {"country_iso_code": "USA", "force_carbon_intensity_g_co2e_kwh": float(world)}
            tracker = OfflineEmissionsTracker(output_methods=[], log_level="error", measure_power_secs=self._interval,
                                              tracking_mode="machine", allow_multiple_runs=True, **kw)
            tracker.start()
            method = _method(tracker)
            prior_method = self.method
            if prior_method and prior_method != method:  # resumed elsewhere: say both, the total mixes them
                method = f"{prior_method}; resumed with {method}"
            try:
                while not self._stop.is_set():
                    self._wake.wait(self._interval)
                    self._wake.clear()
                    r = self._reading(tracker)
                    with self._lock:
                        self._latest, self.method = r, method
            finally:
                tracker.stop()
                fd = tracker.final_emissions_data
                if fd is not None:
                    with self._lock:
                        self.method = method
                        self._latest = {"kwh": fd.energy_consumed, "co2_kg": fd.emissions, "cpu_kwh": fd.cpu_energy,
                                        "gpu_kwh": fd.gpu_energy, "ram_kwh": fd.ram_energy, "seconds": fd.duration}
        except Exception as e:  # the meter must never stop a run: report it instead
            self.error = f"energy meter failed: {type(e).__name__}: {e}"

    def totals(self) -> dict | None:
        """Run totals so far (prior + this session's latest reading) with the method and country; None while nothing
        has been measured (codecarbon still starting, no earlier session)."""
        with self._lock:
            cur = dict(self._latest) if self._latest is not None else None
        if cur is None and self.method is None:
            return None
        out = {k: self.prior[k] + float((cur or {}).get(k) or 0.0) for k in _FIELDS}
        out.update(method=self.method, country=self.country or "world average")
        return out

    def tick_fields(self) -> dict:
        """For the tick record: the run's totals so far (asks for a fresh reading for the next tick)."""
        self._wake.set()
        t = self.totals()
        return {} if t is None else {"Energy/kwh": t["kwh"], "Energy/co2_kg": t["co2_kg"], "Energy/method": t["method"]}

    def close(self, timeout: float = 2.0, wait_for_startup: bool = False) -> dict:
        """Stop, take the final reading (waits at most `timeout` s) and return the totals. Unless `wait_for_startup`,
        a meter still starting up is left to finish on its own (a run shorter than that records nothing new)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            started = self._latest is not None
        if started or wait_for_startup:
            self._thread.join(timeout)
        return self.totals()


def start(setting, prior: dict | None = None, emit=None) -> EnergyMeter | None:
    """A meter for `train.energy` (or a command's --energy); None when off or codecarbon is absent (one line said)."""
    on, country = parse_setting(setting)
    if not on:
        return None
    if not available():
        if emit is not None:
            emit({"type": "warning", "text": MISSING})
        return None
    return EnergyMeter(country, prior)


@contextmanager
def measuring(on: bool, country: str | None = None):
    """For one heavy command (`--energy`): yields a dict that holds the totals (or a `note`) after the block. The
    close waits for codecarbon's start-up and final reading (a few seconds), which is why commands ask for it."""
    out: dict = {}
    if country is not None:
        country = parse_setting({"country": country})[1]  # one line naming the flag's value when it is not ISO3
    if not on:
        yield out
        return
    if not available():
        out["note"] = MISSING
        yield out
        return
    meter = EnergyMeter(country)
    try:
        yield out
    finally:
        out.update(meter.close(timeout=15.0, wait_for_startup=True) or {"note": "energy not measured (codecarbon did not start in time)"})
        if meter.error:
            out["note"] = meter.error
