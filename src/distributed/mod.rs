//! Running a pipeline on an existing engine instead of one process: the plan (`seqsynth plan`,
//! what any engine schedules from) and the Slurm batch scripts (`seqsynth slurm`). The Ray
//! driver is Python (`stages/ray/driver.py`) and reads the plan's JSON. No scheduler of our own:
//! each unit of work is a `seqsynth run` of one node or one shard, and the store's node locks
//! and atomic commits make units safe to run side by side, twice, or again after a failure.

pub mod plan;
pub mod slurm;
