//! Reading ahead: an iterator's items made on a thread of their own, a block at a time, while
//! the caller works through the blocks already made. A bulk import parses its file this way,
//! so parsing rows and checking commands share the machine's cores instead of taking turns.

use std::sync::mpsc::{sync_channel, Receiver};

/// Items per block handed from the reading thread.
const BLOCK_ITEMS: usize = 1024;
/// Blocks made ahead of the caller: memory stays bounded by this many blocks.
const BLOCKS_AHEAD_MAX: usize = 8;

/// The items of an iterator, in order, made on a thread of its own. Dropping it stops the
/// thread after the block it is making.
pub struct ReadAhead<T> {
    blocks: Receiver<Vec<T>>,
    current: std::vec::IntoIter<T>,
    /// The last block (a short one) has arrived: the input ended.
    ended: bool,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> ReadAhead<T> {
    pub fn new<I>(items: I) -> ReadAhead<T>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let (sender, blocks) = sync_channel(BLOCKS_AHEAD_MAX);
        let mut items = items.into_iter();
        let reader = std::thread::Builder::new()
            .name("vasooli-read-ahead".into())
            .spawn(move || loop {
                let block: Vec<T> = items.by_ref().take(BLOCK_ITEMS).collect();
                let last = block.len() < BLOCK_ITEMS;
                if sender.send(block).is_err() || last {
                    return;
                }
            })
            .expect("the read-ahead thread starts");
        ReadAhead {
            blocks,
            current: Vec::new().into_iter(),
            ended: false,
            reader: Some(reader),
        }
    }
}

impl<T> Iterator for ReadAhead<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match self.blocks.recv() {
                Ok(block) => {
                    self.ended = block.len() < BLOCK_ITEMS;
                    self.current = block.into_iter();
                }
                // The channel closed before the short last block: the reading thread
                // panicked. The panic goes on here, in the caller, so that a file is never
                // taken for shorter than it is.
                Err(_) => {
                    self.ended = true;
                    if let Some(Err(panic)) = self.reader.take().map(|r| r.join()) {
                        std::panic::resume_unwind(panic);
                    }
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_reading_ahead_reaches_the_caller() {
        let items = (0..BLOCK_ITEMS * 3).inspect(|i| {
            if *i == BLOCK_ITEMS * 2 + 5 {
                panic!("a parser bug at item {i}");
            }
        });
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ReadAhead::new(items).count()
        }));
        let panic = read.expect_err("the input is not taken for shorter than it is");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("a parser bug"), "{message}");
    }

    #[test]
    fn every_item_arrives_once_in_order() {
        for n in [
            0,
            1,
            BLOCK_ITEMS - 1,
            BLOCK_ITEMS,
            BLOCK_ITEMS + 1,
            10 * BLOCK_ITEMS + 7,
        ] {
            let read: Vec<usize> = ReadAhead::new(0..n).collect();
            assert_eq!(read, (0..n).collect::<Vec<_>>(), "{n} items");
        }
    }

    /// An endless input that says when it is dropped (the reading thread ended).
    struct Endless(std::sync::Arc<std::sync::atomic::AtomicBool>, usize);

    impl Iterator for Endless {
        type Item = usize;
        fn next(&mut self) -> Option<usize> {
            self.1 += 1;
            Some(self.1)
        }
    }

    impl Drop for Endless {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn dropping_it_part_way_ends_the_reading_thread() {
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut ahead = ReadAhead::new(Endless(ended.clone(), 0));
        assert_eq!(ahead.next(), Some(1));
        assert_eq!(ahead.nth(BLOCK_ITEMS * 3), Some(BLOCK_ITEMS * 3 + 2));
        assert!(!ended.load(std::sync::atomic::Ordering::SeqCst));
        drop(ahead);
        let waited = std::time::Instant::now();
        while !ended.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(30),
                "the reading thread still runs"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
