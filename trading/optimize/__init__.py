"""Strategy optimisation (SPEC §7a): a space of parameters, an Optuna search whose every trial
is a backtest, and walk-forward folds whose out-of-sample figures never saw their own future.

`space` parses `--space` specs, `objectives` scores a backtest, `search` runs the trials,
`walkforward` cuts the folds and judges whether out-of-sample keeps up with in-sample.
The search function is `trading.optimize.search.search` (not re-exported here, so that
`trading.optimize.search` stays the module's name).
"""

from trading.optimize.objectives import OBJECTIVES, score
from trading.optimize.search import SearchFailed, SearchResult, Trial
from trading.optimize.space import Dimension, SpaceError, default_params, parse_space
from trading.optimize.walkforward import Fold, Optimization, optimize, segments

__all__ = [
    "OBJECTIVES",
    "Dimension",
    "Fold",
    "Optimization",
    "SearchFailed",
    "SearchResult",
    "SpaceError",
    "Trial",
    "default_params",
    "optimize",
    "parse_space",
    "score",
    "segments",
]
