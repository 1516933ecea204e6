//! Which key store this profile used last, recorded outside the store's folder: a store that
//! is not that one is told to the user at load. The folder may be an encrypted volume's mount
//! point, not mounted yet when Pidgin starts (a store is then made, or opened again, on the
//! disk beneath), or gone as a whole; either way its keys are not the ones the contacts saw,
//! and Sotto no longer knows who the encrypted conversations were with, so under the default
//! policy what is typed to them would go unencrypted without a word.
//!
//! The record, [`LAST_USED_FILE`] in the profile's folder beside `sotto/`, is written at load
//! by the process that holds the store's lock, whole, synced and renamed into place before the
//! user is told anything. Until 2026-12-07 it was a libpurple preference: `prefs.xml` is saved
//! five seconds after a change, whole, from each process's memory, so a kill within those
//! seconds, or a second client refused the store (Finch beside Pidgin) saving its older copy
//! later, put back a stale record, and the next start on the store beneath was silent again
//! (found by a read-only review). That preference is still read once, where no record exists
//! (a profile last run by a build that kept it there).
//!
//! The record keeps the store used last, whether that store was made anew at its start, and the
//! store used before it: the usual store back after a start that made one beneath (what the
//! first box told the user to do) is told as that, not as a stranger.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The record's file name, in the profile's folder (beside `sotto/`, never inside it).
pub const LAST_USED_FILE: &str = "sotto-last-store";

/// Which stores this profile used, by their `meta.incarnation` ([`super::Store::incarnation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LastUsed {
    /// The store used at the last start.
    pub last: Option<i64>,
    /// Whether that store was made anew at that start.
    pub last_made: bool,
    /// The store used before it (another one).
    pub before: Option<i64>,
}

/// What the store that opened is to the user, against the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No store recorded: a first start (or a profile whose record was lost with the store).
    First,
    /// The store used last.
    Same,
    /// Made anew where this profile had one: its keys are new.
    Made,
    /// The store used before the last start, which made one anew: the usual store back.
    Back,
    /// Another store than the one used last, not made now.
    Other,
}

impl LastUsed {
    /// The record at `path`; `None` when there is none (or it cannot be read: as none).
    pub fn read(path: &Path) -> Option<LastUsed> {
        let text = fs::read_to_string(path).ok()?;
        let mut out = LastUsed::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("last", v)) => out.last = v.trim().parse().ok(),
                Some(("made", v)) => out.last_made = v.trim() == "1",
                Some(("before", v)) => out.before = v.trim().parse().ok(),
                _ => {}
            }
        }
        out.last.is_some().then_some(out)
    }

    /// A record holding only `last` (read from the preference earlier builds kept).
    pub fn only(last: i64) -> LastUsed {
        LastUsed {
            last: Some(last),
            ..LastUsed::default()
        }
    }

    /// Writes the record to `path` whole: a file beside it (0600), synced, renamed over it,
    /// and the folder synced, so a crash leaves either record, never a part.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = String::new();
        if let Some(last) = self.last {
            text.push_str(&format!("last {last}\nmade {}\n", u8::from(self.last_made)));
        }
        if let Some(before) = self.before {
            text.push_str(&format!("before {before}\n"));
        }
        let tmp = path.with_extension("new");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// What the store `this` is, made anew at this open or not (`made`), or made anew where
    /// its folder says this profile had one (`replaced`, [`super::Store::replaced_another`]),
    /// against the record `recorded` (`None`: none).
    pub fn judge(recorded: Option<&LastUsed>, this: i64, made: bool, replaced: bool) -> Verdict {
        if replaced {
            return Verdict::Made;
        }
        let Some(r) = recorded.filter(|r| r.last.is_some()) else {
            return Verdict::First;
        };
        if r.last == Some(this) {
            Verdict::Same
        } else if made {
            Verdict::Made
        } else if r.last_made && r.before == Some(this) {
            Verdict::Back
        } else {
            Verdict::Other
        }
    }

    /// The record after a start on `this` (`made`: made anew at it), from `recorded`.
    pub fn after(recorded: Option<&LastUsed>, this: i64, made: bool) -> LastUsed {
        let last = recorded.and_then(|r| r.last);
        match last {
            Some(l) if l == this => LastUsed {
                last: Some(this),
                last_made: made || recorded.is_some_and(|r| r.last_made),
                before: recorded.and_then(|r| r.before),
            },
            _ => LastUsed {
                last: Some(this),
                last_made: made,
                before: last,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record through the starts the read-only review walked: a first start; the folder's
    /// volume not mounted (a store made beneath); the volume mounted again (the usual store
    /// back, told as that); not mounted at a later start (the store beneath opened again:
    /// another store, told); a store deleted in its folder; the same store again, silent.
    #[test]
    fn each_start_is_judged_against_the_stores_used_before() {
        let (real, beneath, anew) = (11, 22, 33);
        let mut record: Option<LastUsed> = None;
        let mut start = |this: i64, made: bool, replaced: bool| {
            let verdict = LastUsed::judge(record.as_ref(), this, made, replaced);
            record = Some(LastUsed::after(record.as_ref(), this, made || replaced));
            verdict
        };
        assert_eq!(start(real, true, false), Verdict::First);
        assert_eq!(start(real, false, false), Verdict::Same);
        assert_eq!(start(beneath, true, false), Verdict::Made);
        assert_eq!(start(beneath, false, false), Verdict::Same);
        assert_eq!(start(real, false, false), Verdict::Back);
        assert_eq!(start(beneath, false, false), Verdict::Other);
        assert_eq!(
            start(real, false, false),
            Verdict::Other,
            "neither made at its start"
        );
        assert_eq!(start(anew, true, true), Verdict::Made);
        assert_eq!(start(anew, false, false), Verdict::Same);
    }

    /// A store whose own folder says it was made anew where one was (`replaced`: the mark
    /// kept in the database until told) is told as made, also when this open did not make it
    /// (killed before the box at the start that did) and the record names it already. Before,
    /// the load cleared the mark before reading it for the box's wording, and said "opened
    /// another key store" (found by a read-only review).
    #[test]
    fn a_store_marked_replaced_is_told_as_made_whatever_the_record() {
        for recorded in [None, Some(LastUsed::only(5)), Some(LastUsed::only(9))] {
            assert_eq!(
                LastUsed::judge(recorded.as_ref(), 5, false, true),
                Verdict::Made
            );
        }
    }

    #[test]
    fn the_record_is_written_whole_and_read_back() {
        let dir = std::env::temp_dir().join(format!("sotto-last-used-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(LAST_USED_FILE);
        assert_eq!(LastUsed::read(&path), None);
        let r = LastUsed {
            last: Some(-7),
            last_made: true,
            before: Some(i64::MAX),
        };
        r.write(&path).expect("write");
        assert_eq!(LastUsed::read(&path), Some(r));
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!path.with_extension("new").exists());
        LastUsed::only(3).write(&path).expect("write");
        assert_eq!(LastUsed::read(&path), Some(LastUsed::only(3)));
        fs::write(&path, "garbage\n").expect("write");
        assert_eq!(LastUsed::read(&path), None, "unreadable: as none");
        let _ = fs::remove_dir_all(&dir);
    }
}
