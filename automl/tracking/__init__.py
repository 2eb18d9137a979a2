"""Everything MLflow, reached through a few plain values and small objects:

- runs: RunRef (a run by value: URI, experiment, id, name), start_run, child_run, RunLog (params, metrics,
  tags, artifacts, end) — what Prefect tasks pass between them
- trials: TrialRuns, one nested child run per trial (automl.search's TrialLogger), TrialReporter
  (the same, each trial also handed to a progress callback); mark_final_members tags the trials
  the final model is made of
- the study's stored copy: JournalMirror (automl.search's StudyMirror)
- what the parent run shows of the search and of the final model: log_search, log_winner
- the registry: register_model (idempotent per run), Registration, HoldoutScore, the `champion`
  alias policy (ChampionPolicy, POLICIES: if_not_worse, if_better, always, never) and the lock that
  orders two runs' decisions (champion_lock); register_student (a distilled student: the `student`
  alias, never `champion`) and log_and_register, which both share
- a run's life beyond one process: parent_runs of a config, ParentRun (its status and whether its
  process lives), dead_runs, end_dead_runs, end_own_runs (a stop as the run opened), resumable_run and
  resume_run (automl run --resume),
  the checkpoint folder a resumed search reads (checkpoint_dir), finish_run, run_ends_failed

The writer process that makes child runs and journal appends off the search's GIL is private.
"""

from automl.tracking._champion import POLICIES, ChampionPolicy, HoldoutScore
from automl.tracking._journal import JournalMirror
from automl.tracking._lifecycle import (
                                        PROCESS_TAG,
                                        ParentRun,
                                        ResumeRefused,
                                        checkpoint_dir,
                                        dead_runs,
                                        end_dead_runs,
                                        end_own_runs,
                                        end_with_children,
                                        finish_run,
                                        parent_runs,
                                        reopen_run,
                                        resumable_run,
                                        resume_run,
                                        run_ends_failed,
)
from automl.tracking._registry import (
                                        CHAMPION,
                                        PACKAGE_ROOT,
                                        STUDENT,
                                        Registration,
                                        champion_lock,
                                        champion_scores,
                                        describe,
                                        fluent_tracking_uri,
                                        log_and_register,
                                        model_requirements,
                                        register_model,
                                        register_student,
)
from automl.tracking._runs import RunLog, RunRef, absolute_uri, child_run, flatten, open_experiment, start_run
from automl.tracking._summaries import log_search, log_winner
from automl.tracking._trials import TrialReporter, TrialRuns, mark_final_members, trial_run

__all__ = ["CHAMPION", "PACKAGE_ROOT", "POLICIES", "PROCESS_TAG", "STUDENT", "ChampionPolicy", "HoldoutScore",
           "JournalMirror", "ParentRun", "Registration", "ResumeRefused", "RunLog", "RunRef", "TrialReporter",
           "TrialRuns", "absolute_uri", "champion_lock", "champion_scores", "checkpoint_dir", "child_run", "dead_runs",
           "describe", "end_dead_runs", "end_own_runs", "end_with_children", "finish_run", "flatten",
           "fluent_tracking_uri", "log_and_register", "log_search", "log_winner", "mark_final_members",
           "model_requirements", "open_experiment", "parent_runs", "register_model", "register_student", "reopen_run",
           "resumable_run", "resume_run", "run_ends_failed", "start_run", "trial_run"]
