"""Everything MLflow, reached through a few plain values and small objects:

- runs: RunRef (a run by value: URI, experiment, id, name), start_run, RunLog (params, metrics,
  tags, artifacts, end) — what Prefect tasks pass between them
- trials: TrialRuns, one nested child run per trial (automl.search's TrialLogger)
- the study's stored copy: JournalMirror (automl.search's StudyMirror)
- the registry: register_model (idempotent per run), Registration, the `champion` alias policy

The writer process that makes child runs and journal appends off the search's GIL is private.
"""

from automl.tracking._journal import JournalMirror
from automl.tracking._registry import CHAMPION, Registration, model_requirements, register_model
from automl.tracking._runs import RunLog, RunRef, absolute_uri, flatten, open_experiment, start_run
from automl.tracking._trials import TrialRuns, trial_run

__all__ = ["CHAMPION", "JournalMirror", "Registration", "RunLog", "RunRef", "TrialRuns", "absolute_uri", "flatten",
           "model_requirements", "open_experiment", "register_model", "start_run", "trial_run"]
