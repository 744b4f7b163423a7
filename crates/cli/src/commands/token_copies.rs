//! A partition's API tokens in cluster mode: the owner keeps the cluster's copy equal to its
//! table, a standby keeps its table equal to the cluster's copy, and a new owner starts from
//! the cluster's copy, so that tokens work on whichever process owns the partition and a
//! revoked token stays revoked. See docs/CLUSTER.md.

use std::collections::BTreeMap;
use std::time::Duration;

use vasooli_cluster::{Leases, TokenBoard};
use vasooli_store::SideTable;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The table's tokens: hash in hex -> value.
fn local(table: &SideTable) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    Ok(table
        .entries()?
        .into_iter()
        .map(|(key, value)| (hex(&key), value))
        .collect())
}

/// Makes the table equal the cluster's copy, when the cluster keeps one: whether it changed.
pub async fn copy_to_table(
    board: &TokenBoard,
    partition: &str,
    table: &SideTable,
) -> anyhow::Result<bool> {
    if !board.kept(partition).await? {
        return Ok(false);
    }
    let kept = board.tokens(partition).await?;
    let mine = local(table)?;
    let mut changed = false;
    for (hash, value) in &kept {
        if mine.get(hash) != Some(value) {
            let key = unhex(hash).ok_or_else(|| anyhow::anyhow!("token key {hash} is not hex"))?;
            table.insert(&key, value.clone())?;
            changed = true;
        }
    }
    for hash in mine.keys().filter(|h| !kept.contains_key(*h)) {
        if let Some(key) = unhex(hash) {
            table.remove(&key)?;
            changed = true;
        }
    }
    if changed {
        table.flush()?;
    }
    Ok(changed)
}

/// On taking a partition over: the cluster's copy when it keeps one, else (the partition's
/// first owner) this table becomes the cluster's copy.
pub async fn take_over(
    board: &TokenBoard,
    partition: &str,
    table: &SideTable,
) -> anyhow::Result<()> {
    if board.kept(partition).await? {
        copy_to_table(board, partition, table).await?;
    } else {
        board.copy_from(partition, &local(table)?).await?;
    }
    Ok(())
}

/// While this process owns the partition: copies its table to the cluster every second
/// (tokens created and revoked through it included), each time after checking that the
/// partition's lease is still `holder`'s, so that an owner that stalled past its lease
/// does not overwrite its successor's copy.
pub fn keep_copying(
    board: TokenBoard,
    leases: Leases,
    holder: String,
    partition: String,
    table: SideTable,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match leases.holder(&partition).await {
                Ok(Some((current, _))) if current == holder => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("reading the lease before copying the tokens: {e}");
                    continue;
                }
            }
            let copied = match local(&table) {
                Ok(mine) => board
                    .copy_from(&partition, &mine)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            if let Err(e) = copied {
                tracing::warn!("copying the tokens to the cluster: {e:#}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_travel_as_hex_and_back() {
        let key = [0u8, 1, 0xab, 0xff, 0x10];
        assert_eq!(hex(&key), "0001abff10");
        assert_eq!(unhex("0001abff10").as_deref(), Some(&key[..]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
