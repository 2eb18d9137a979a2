"""Everything MLflow, reached through a few plain values and small objects:

- runs: RunRef (a run by value: URI, experiment, id, name), start_run, RunLog (params, metrics,
  tags, artifacts, end) — what Prefect tasks pass between them
- trials: TrialRuns, one nested child run per trial (automl.search's TrialLogger);
  mark_final_members tags the trials the final model is made of
- the study's stored copy: JournalMirror (automl.search's StudyMirror)
- the registry: register_model (idempotent per run), Registration, the `champion` alias policy
- a run's life beyond one process: parent_runs of a config, ParentRun (its status and whether its
  process lives), end_with_children, reopen_run (automl run --resume)

The writer process that makes child runs and journal appends off the search's GIL is private.
"""

from automl.tracking._journal import JournalMirror
from automl.tracking._lifecycle import PROCESS_TAG, ParentRun, end_with_children, parent_runs, reopen_run
from automl.tracking._registry import CHAMPION, Registration, model_requirements, register_model
from automl.tracking._runs import RunLog, RunRef, absolute_uri, flatten, open_experiment, start_run
from automl.tracking._trials import TrialRuns, mark_final_members, trial_run

__all__ = ["CHAMPION", "PROCESS_TAG", "JournalMirror", "ParentRun", "Registration", "RunLog", "RunRef", "TrialRuns",
           "absolute_uri", "end_with_children", "flatten", "mark_final_members", "model_requirements", "open_experiment", "parent_runs",
           "register_model", "reopen_run", "start_run", "trial_run"]
