//! Dialogs the plugin opens (`purple_request_*`, printed as `REQUEST` lines) and a contact
//! whose key changes.

use super::{Client, Pair, WAIT};

/// Bob loses his identity (his `sotto/` data dir is deleted, as on a new install) and starts
/// a new session with alice.
pub fn bob_gets_a_new_key(p: &mut Pair) {
    let alice = p.alice.address.clone();
    p.bob.client.kill();
    let store = p.bob.client.purple_dir().join("sotto");
    std::fs::remove_dir_all(&store).unwrap_or_else(|e| panic!("remove {}: {e}", store.display()));
    p.bob.client.restart();
    p.bob.client.expect_online();
    p.bob.client.cmd(&alice, "sotto start");
}

/// A `purple_request_*` dialog the client showed: its number, kind, title, primary and
/// secondary text, and its items as (key, label).
pub struct Dialog {
    pub n: String,
    pub kind: String,
    pub title: String,
    pub primary: String,
    pub secondary: String,
    pub items: Vec<(String, String)>,
    /// When the test saw it open.
    pub seen: std::time::Instant,
}

impl Dialog {
    /// The key of the first item whose label contains `label` (any case).
    pub fn item(&self, label: &str) -> String {
        self.items
            .iter()
            .find(|(_, l)| l.to_lowercase().contains(&label.to_lowercase()))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no item {label:?} in dialog {:?}: {:?}",
                    self.title, self.items
                )
            })
    }

    /// The user reads the dialog before choosing: returns once it has been open for longer
    /// than Sotto's `dialogs::ARMED` (a choice that changes something, made sooner, does
    /// nothing: it may have been a key typed for the conversation).
    pub fn read(&self) {
        let read = std::time::Duration::from_millis(1700);
        if let Some(left) = read.checked_sub(self.seen.elapsed()) {
            std::thread::sleep(left);
        }
    }

    pub fn text(&self) -> String {
        format!("{}\n{}\n{}", self.title, self.primary, self.secondary)
    }
}

/// Wait for the next dialog whose title, primary or secondary text contains `what` (any case).
pub fn expect_dialog(c: &mut Client, what: &str) -> Dialog {
    let needle = what.to_lowercase();
    let req = c.expect(&format!("a request dialog about {what:?}"), WAIT, |l| {
        l.tag == "REQUEST"
            && [2, 3, 4]
                .iter()
                .any(|&i| l.field(i).to_lowercase().contains(&needle))
    });
    let n = req.field(0).to_string();
    c.sync();
    let items = c
        .lines()
        .into_iter()
        .filter(|l| l.tag == "REQUEST_ITEM" && l.field(0) == n)
        .map(|l| (l.field(1).to_string(), l.field(2).to_string()))
        .collect();
    Dialog {
        kind: req.field(1).to_string(),
        title: req.field(2).to_string(),
        primary: req.field(3).to_string(),
        secondary: req.field(4).to_string(),
        n,
        items,
        seen: std::time::Instant::now(),
    }
}

/// The entry of a Known fingerprints list (printed `[entry]` after the field label) holding `fp`.
pub fn known_list_entry(d: &Dialog, fp: &str) -> String {
    d.items
        .iter()
        .flat_map(|(_, label)| label.split('[').skip(1))
        .filter_map(|s| s.strip_suffix("] ").or(s.strip_suffix(']')))
        .find(|s| s.contains(fp))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no list entry with {fp}: {:?}", d.items))
}

/// Tools > Sotto > Known fingerprints..., opened by `c`.
pub fn open_known(c: &mut Client) -> Dialog {
    c.command(&format!(
        "action {}",
        super::escape_arg("Known fingerprints...")
    ));
    expect_dialog(c, "known fingerprints")
}

/// Closes the Known fingerprints dialog a `/sotto fingerprints` opened (the listing opens it
/// too), then opens the one from Tools > Sotto.
pub fn known_from_tools(c: &mut Client) -> Dialog {
    let from_cmd = expect_dialog(c, "known fingerprints");
    c.command(&format!("cancel {}", from_cmd.n));
    open_known(c)
}

/// In the Known fingerprints dialog `d`, apply `action` ("Mark verified", "Forget this key",
/// ...) to the key with fingerprint `fp`.
pub fn known_do(c: &mut Client, d: &Dialog, fp: &str, action: &str) {
    let label = known_list_entry(d, fp);
    c.answer(&d.n, &format!("key={label};action={action}"));
}
