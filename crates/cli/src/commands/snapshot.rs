//! A partition's snapshots in cluster mode: an owner uploads one after each nightly run, and
//! a process starting on an empty directory loads the latest before it replays the log after
//! it. See docs/CLUSTER.md ("Snapshots").

use std::path::{Path, PathBuf};

use anyhow::Context;
use vasooli_cluster::{Replica, SnapshotInfo, Snapshots};
use vasooli_store::{NewCommit, Store};

/// Written in the data directory while a snapshot is being loaded into it, removed once the
/// load is whole: found at start beside events, it means a load was cut off.
const LOADING_MARK: &str = "snapshot-loading";
/// The export an owner uploads, written in its data directory meanwhile.
const UPLOAD_FILE: &str = "snapshot-upload.jsonl";
/// The downloaded export, in the data directory while it is loaded.
const DOWNLOAD_FILE: &str = "snapshot-download.jsonl";

/// Loads `partition`'s latest snapshot into `store` when the store is empty (a new standby
/// on a new machine): what it loaded, or `None` when the store holds events already or the
/// partition has no snapshot of its log's `generation`. A store holding part of a snapshot
/// (a load cut off) is refused with what to do.
pub async fn load_into_empty(
    snapshots: &Snapshots,
    partition: &str,
    generation: u64,
    store: &Store,
    dir: &Path,
) -> anyhow::Result<Option<SnapshotInfo>> {
    let dir = crate::out::resolve(dir);
    let mark = dir.join(LOADING_MARK);
    let (position, covered) = (store.last_position(), store.covered_sequence()?);
    if position != 0 || covered != 0 {
        anyhow::ensure!(
            !(mark.exists() && covered == 0),
            "{} holds part of a snapshot whose loading was cut off: move it away and start \
             again with an empty directory",
            dir.display()
        );
        if mark.exists() {
            // The load finished (its covering commit is in) just before the mark's removal.
            std::fs::remove_file(&mark).with_context(|| format!("removing {}", mark.display()))?;
        }
        return Ok(None);
    }
    if snapshots
        .latest(partition)
        .await?
        .is_none_or(|info| info.generation != generation)
    {
        return Ok(None);
    }
    // Durable before the first event is: a load cut off by a power failure is still seen.
    std::fs::File::create(&mark)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::File::open(&dir)?.sync_all())
        .with_context(|| format!("writing {}", mark.display()))?;
    let file = dir.join(DOWNLOAD_FILE);
    let info = match snapshots.download(partition, &file).await? {
        Some(info) if info.generation == generation => info,
        _ => {
            std::fs::remove_file(&file).ok();
            std::fs::remove_file(&mark).ok();
            return Ok(None);
        }
    };
    let (store, name, loaded_file) = (store.clone(), file.display().to_string(), file.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let reader = std::io::BufReader::new(std::fs::File::open(&loaded_file)?);
        let events = vasooli_engine::log::parse_export(&name, reader)
            .map_err(|problems| anyhow::anyhow!("the snapshot does not read: {}", problems[0]))?;
        anyhow::ensure!(
            events.len() as u64 == info.position,
            "the snapshot holds {} events, its metadata says {}",
            events.len(),
            info.position
        );
        vasooli_engine::engine::restore_events(&store, events)?;
        store.append_local(NewCommit::new(Vec::new()).covering(info.covered))?;
        Ok(())
    })
    .await??;
    std::fs::remove_file(&file).ok();
    std::fs::remove_file(&mark).with_context(|| format!("removing {}", mark.display()))?;
    Ok(Some(info))
}

/// Exports the replica's store as it stands at one covered sequence and uploads it as the
/// partition's snapshot.
pub async fn upload(
    snapshots: &Snapshots,
    replica: &std::sync::Arc<Replica>,
    dir: &Path,
) -> anyhow::Result<SnapshotInfo> {
    let file: PathBuf = crate::out::resolve(dir).join(UPLOAD_FILE);
    // Read while no commit is being applied: the position is the one the sequence left.
    let (covered, position) = replica.covered_with_position().await?;
    let (replica_for_export, export_to) = (std::sync::Arc::clone(replica), file.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&export_to)
                .with_context(|| format!("creating {}", export_to.display()))?,
        );
        let written =
            vasooli_engine::log::export_store(replica_for_export.store(), position, &mut out)?;
        anyhow::ensure!(
            written == position,
            "exported {written} events of {position}"
        );
        std::io::Write::flush(&mut out)?;
        Ok(())
    })
    .await??;
    let uploaded = snapshots
        .upload(
            replica.partition(),
            replica.generation(),
            covered,
            position,
            &file,
        )
        .await;
    std::fs::remove_file(&file).ok();
    Ok(uploaded?)
}
