//! What Sotto records about the profile outside its store's folder: which key store the profile
//! used last, and the preferences that keep plaintext out. Written only by the process that
//! holds the store (a second client on the profile is refused the store and writes nothing),
//! whole, synced and renamed into place.
//!
//! **The store used last.** A store that is not that one is told to the user at load. The
//! folder may be an encrypted volume's mount point, not mounted yet when Pidgin starts (a store
//! is then made, or opened again, on the disk beneath), or gone as a whole; either way its keys
//! are not the ones the contacts saw, and Sotto no longer knows who the encrypted conversations
//! were with, so under the default policy what is typed to them would go unencrypted without a
//! word. The record keeps the store used last, whether it was made anew at its start, and the
//! one used before it: the usual store back after a start that made one beneath (what the
//! first box told the user to do) is told as that, not as a stranger. Until 2026-12-07 this was
//! a libpurple preference: `prefs.xml` is saved five seconds after a change, whole, from each
//! process's memory, so a kill within those seconds, or a second client refused the store
//! saving its older copy later, put back a stale record and the next start on the store beneath
//! was silent again (found by a read-only review). That preference is still read once, where
//! no record exists (a profile last run by a build that kept it there).
//!
//! **The preferences.** The global policy and "Log encrypted conversations" live in
//! `prefs.xml`, which the same second client overwrote with its older copy (the policy back to
//! `opportunistic` after the user chose `always`), and the next start used it without a word.
//! The record keeps the value last chosen in the process that held the store; where `prefs.xml`
//! says otherwise at load, the stricter of the two is kept (a value changed behind Sotto's back
//! may be the user's own edit, or a stale copy: either way never a weaker one without a word),
//! and the user is told. Kept with the profile, not in the store: a store switched or restored
//! from a backup brings no older settings back (found by a hostile review of a first version).
//!
//! A record that cannot be read (not there is not that: a folder in its place, no permission, a
//! file that does not parse) is told, never taken for a first start.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The record's file name, in the profile's folder (beside `sotto/`, never inside it).
pub const PROFILE_RECORD_FILE: &str = "sotto-profile";

/// What the record holds. Stores go by their `meta.incarnation` ([`super::Store::incarnation`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileRecord {
    /// The store used at the last start.
    pub last: Option<i64>,
    /// Whether that store was made anew at that start.
    pub last_made: bool,
    /// The store used before it (another one).
    pub before: Option<i64>,
    /// Preferences as last chosen (path, value), in the order first recorded.
    pub settings: Vec<(String, String)>,
    /// What the box at the last start told ([`Verdict::Made`], [`Verdict::Back`] or
    /// [`Verdict::Other`]), while the user may not have seen it yet: the record is written
    /// before the box is drawn, and a crash in the moments after (Pidgin killed while its
    /// accounts connect) left the next start on the same store silent (found by a hostile
    /// review). Told again at such a start ([`ProfileRecord::to_tell`]); cleared once the
    /// process has run a while with the box up (the plugin's first sweep).
    pub untold: Option<Verdict>,
}

/// What the store that opened is to the user, against the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No record: a first start (or a profile whose record was lost with the store).
    First,
    /// The store used last.
    Same,
    /// Made anew where this profile had one (or where the record could not be read): its keys
    /// are new.
    Made,
    /// The store used before the last start, which made one anew: the usual store back.
    Back,
    /// Another store than the one used last, not made now.
    Other,
    /// The record could not be read: which store this profile used last is not known.
    Unknown,
}

/// A record that is there but cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl ProfileRecord {
    /// The record at `path`: `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<ProfileRecord>, Unreadable> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Unreadable(e.to_string())),
        };
        let mut out = ProfileRecord::default();
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "last" => out.last = value.trim().parse().ok(),
                "made" => out.last_made = value.trim() == "1",
                "before" => out.before = value.trim().parse().ok(),
                "untold" => {
                    out.untold = match value.trim() {
                        "made" => Some(Verdict::Made),
                        "back" => Some(Verdict::Back),
                        "other" => Some(Verdict::Other),
                        _ => None,
                    }
                }
                "setting" => {
                    if let Some((k, v)) = value.split_once(' ') {
                        out.set(k, v);
                    }
                }
                _ => {}
            }
        }
        if out.last.is_none() {
            return Err(Unreadable("it names no store".to_owned()));
        }
        Ok(Some(out))
    }

    /// A record holding only `last` (read from the preference earlier builds kept).
    pub fn only(last: i64) -> ProfileRecord {
        ProfileRecord {
            last: Some(last),
            ..ProfileRecord::default()
        }
    }

    /// A preference's value as recorded.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Records a preference's value (one line: no line break in it).
    pub fn set(&mut self, key: &str, value: &str) {
        let value = value.replace(['\n', '\r'], " ");
        match self.settings.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.settings.push((key.to_owned(), value)),
        }
    }

    /// Of a kept preference's value as recorded (`recorded`) and as `prefs.xml` has it now
    /// (`here`), the one that keeps more out: for "Log encrypted conversations" (`log`),
    /// `false`; for the policy `always`, then `opportunistic`, then `manual`, and a value this
    /// version does not know above all (the plugin reads it as `always`). `here` on a tie.
    pub fn stricter<'a>(log: bool, recorded: Option<&'a str>, here: &'a str) -> &'a str {
        let strictness = |v: &str| match (log, v) {
            (true, "true") => 0,
            (true, _) => 1,
            (false, "manual") => 0,
            (false, "opportunistic") => 1,
            (false, "always") => 2,
            (false, _) => 3,
        };
        match recorded {
            Some(r) if strictness(r) > strictness(here) => r,
            _ => here,
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
        for (k, v) in &self.settings {
            text.push_str(&format!("setting {k} {v}\n"));
        }
        let untold = match self.untold {
            Some(Verdict::Made) => "made",
            Some(Verdict::Back) => "back",
            Some(Verdict::Other) => "other",
            _ => "",
        };
        if !untold.is_empty() {
            text.push_str(&format!("untold {untold}\n"));
        }
        // Made anew, never opened where it is (a link left at its name is not followed; a file
        // left there keeps no owner or mode of its own).
        let tmp = path.with_extension("new");
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
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
    /// against the record as read (`Ok(None)`: none).
    pub fn judge(
        recorded: Result<Option<&ProfileRecord>, &Unreadable>,
        this: i64,
        made: bool,
        replaced: bool,
    ) -> Verdict {
        if replaced {
            return Verdict::Made;
        }
        let r = match recorded {
            Ok(Some(r)) if r.last.is_some() => r,
            Ok(_) => return Verdict::First,
            Err(_) if made => return Verdict::Made,
            Err(_) => return Verdict::Unknown,
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

    /// What to tell at this start: `verdict`, or, where it is [`Verdict::Same`] and the last
    /// start's box may not have been seen (`untold`), that box again.
    pub fn to_tell(recorded: Option<&ProfileRecord>, verdict: Verdict) -> Verdict {
        match (verdict, recorded.and_then(|r| r.untold)) {
            (Verdict::Same, Some(untold)) => untold,
            _ => verdict,
        }
    }

    /// The record after a start on `this` (`made`: made anew at it), from `recorded` (its
    /// settings kept; nothing untold).
    pub fn after(recorded: Option<&ProfileRecord>, this: i64, made: bool) -> ProfileRecord {
        let settings = recorded.map(|r| r.settings.clone()).unwrap_or_default();
        let last = recorded.and_then(|r| r.last);
        match last {
            Some(l) if l == this => ProfileRecord {
                last: Some(this),
                last_made: made || recorded.is_some_and(|r| r.last_made),
                before: recorded.and_then(|r| r.before),
                settings,
                untold: None,
            },
            _ => ProfileRecord {
                last: Some(this),
                last_made: made,
                before: last,
                settings,
                untold: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sotto-record-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        dir
    }

    /// The record through the starts the read-only review walked: a first start; the folder's
    /// volume not mounted (a store made beneath); the volume mounted again (the usual store
    /// back, told as that); not mounted at a later start (the store beneath opened again:
    /// another store, told); a store deleted in its folder; the same store again, silent.
    #[test]
    fn each_start_is_judged_against_the_stores_used_before() {
        let (real, beneath, anew) = (11, 22, 33);
        let mut record: Option<ProfileRecord> = None;
        let mut start = |this: i64, made: bool, replaced: bool| {
            let verdict = ProfileRecord::judge(Ok(record.as_ref()), this, made, replaced);
            record = Some(ProfileRecord::after(
                record.as_ref(),
                this,
                made || replaced,
            ));
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
        let bad = Unreadable("no permission".into());
        for recorded in [
            Ok(None),
            Ok(Some(ProfileRecord::only(5))),
            Ok(Some(ProfileRecord::only(9))),
            Err(&bad),
        ] {
            let recorded = recorded.as_ref().map(Option::as_ref).map_err(|e| *e);
            assert_eq!(
                ProfileRecord::judge(recorded, 5, false, true),
                Verdict::Made
            );
        }
    }

    /// A record that is there but cannot be read is never a first start (which says nothing):
    /// a store made now is told as made, any other as not known to be the one used last
    /// (found by a hostile review: a folder in the record's place made every start a silent
    /// first one).
    #[test]
    fn an_unreadable_record_is_told_never_a_first_start() {
        let dir = scratch("unreadable");
        let path = dir.join(PROFILE_RECORD_FILE);
        fs::create_dir(&path).expect("a folder in its place");
        let read = ProfileRecord::read(&path);
        let Err(e) = &read else {
            panic!("read as {read:?}");
        };
        assert_eq!(ProfileRecord::judge(Err(e), 7, true, false), Verdict::Made);
        assert_eq!(
            ProfileRecord::judge(Err(e), 7, false, false),
            Verdict::Unknown
        );
        fs::remove_dir(&path).expect("rmdir");
        fs::write(&path, "garbage\n").expect("write");
        assert!(
            ProfileRecord::read(&path).is_err(),
            "a file that names no store"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// A box the last start showed and the user may not have seen (the process died soon
    /// after) is shown again at a start on the same store; at a start on another store, that
    /// store's own verdict is told.
    #[test]
    fn a_box_not_seen_is_told_again_on_the_same_store() {
        let mut record = ProfileRecord::after(None, 1, true);
        record = ProfileRecord::after(Some(&record), 2, true);
        record.untold = Some(Verdict::Made);
        let same = ProfileRecord::judge(Ok(Some(&record)), 2, false, false);
        assert_eq!(same, Verdict::Same);
        assert_eq!(ProfileRecord::to_tell(Some(&record), same), Verdict::Made);
        let back = ProfileRecord::judge(Ok(Some(&record)), 1, false, false);
        assert_eq!(ProfileRecord::to_tell(Some(&record), back), Verdict::Back);
        record.untold = None;
        assert_eq!(ProfileRecord::to_tell(Some(&record), same), Verdict::Same);
        assert_eq!(ProfileRecord::after(Some(&record), 2, false).untold, None);
    }

    /// A preference `prefs.xml` has weaker than last recorded (a second client's older copy)
    /// gives way; a stricter one (the user's own edit, or an older copy that was stricter) is
    /// kept: never a weaker value without a word.
    #[test]
    fn the_stricter_of_a_preference_is_kept() {
        use ProfileRecord as R;
        assert_eq!(
            R::stricter(false, Some("always"), "opportunistic"),
            "always"
        );
        assert_eq!(
            R::stricter(false, Some("opportunistic"), "always"),
            "always"
        );
        assert_eq!(
            R::stricter(false, Some("opportunistic"), "manual"),
            "opportunistic"
        );
        assert_eq!(
            R::stricter(false, Some("manual"), "opportunistic"),
            "opportunistic"
        );
        assert_eq!(R::stricter(false, Some("paranoid"), "always"), "paranoid");
        assert_eq!(R::stricter(false, None, "manual"), "manual");
        assert_eq!(R::stricter(true, Some("false"), "true"), "false");
        assert_eq!(R::stricter(true, Some("true"), "false"), "false");
        assert_eq!(R::stricter(true, None, "true"), "true");
    }

    #[test]
    fn the_record_is_written_whole_and_read_back() {
        let dir = scratch("write");
        let path = dir.join(PROFILE_RECORD_FILE);
        assert_eq!(ProfileRecord::read(&path), Ok(None));
        let mut r = ProfileRecord {
            last: Some(-7),
            last_made: true,
            before: Some(i64::MAX),
            settings: Vec::new(),
            untold: Some(Verdict::Back),
        };
        r.set("/plugins/core/sotto/policy", "opportunistic");
        r.set("/plugins/core/sotto/log_encrypted", "false");
        r.set("/plugins/core/sotto/policy", "always\nlast 1");
        assert_eq!(
            r.setting("/plugins/core/sotto/policy"),
            Some("always last 1")
        );
        r.write(&path).expect("write");
        assert_eq!(ProfileRecord::read(&path), Ok(Some(r.clone())));
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!path.with_extension("new").exists());
        // A link left at the file's name beside it is not followed.
        let elsewhere = dir.join("elsewhere");
        fs::write(&elsewhere, "kept").expect("write");
        std::os::unix::fs::symlink(&elsewhere, path.with_extension("new")).expect("link");
        r.write(&path).expect("write");
        assert_eq!(fs::read_to_string(&elsewhere).expect("read"), "kept");
        assert_eq!(ProfileRecord::read(&path), Ok(Some(r.clone())));
        // A later start keeps the settings.
        let next = ProfileRecord::after(Some(&r), 3, false);
        assert_eq!(next.settings, r.settings);
        let _ = fs::remove_dir_all(&dir);
    }
}
