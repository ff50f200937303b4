"""Started by an ANY trigger: by extract_rates or by fallback_rates, whichever succeeded."""

from __future__ import annotations

import common

opts = common.options()
out = common.out_dir(opts)
source = out / "rates.json" if (out / "rates.json").exists() else out / "rates_fallback.json"
rates = common.read(source)
print(f"using the rates of {rates['as_of']} ({source.name})")
common.write(out / "rates_chosen.json", rates)
