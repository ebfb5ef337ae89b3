//! The live view's state: the latest update, the chart history and the final downloads. Writers
//! replace the latest update; readers (one per browser) only ever see the newest, so no browser can
//! slow the run down.

use super::view::{Point, View};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Most chart points kept (one hour at one per second); older ones are dropped.
pub const MAX_POINTS: usize = 3600;

/// The files a finished run offers for download.
#[derive(Debug, Clone, Default)]
pub struct Downloads {
    /// The HTML report.
    pub html: Option<Arc<str>>,
    /// The results JSON.
    pub results: Option<Arc<str>>,
    /// Locust-compatible CSV files by name (`stats.csv`, `stats_history.csv`, `failures.csv`, `exceptions.csv`).
    pub csv: Vec<(&'static str, Arc<str>)>,
}

/// The latest view, its history and downloads, shared by the run and the web server.
#[derive(Clone)]
pub struct Feed {
    latest: watch::Sender<Arc<str>>,
    history: Arc<Mutex<Vec<Point>>>,
    downloads: Arc<Mutex<Downloads>>,
    notes: Arc<Mutex<Notes>>,
}

/// What the page shows beside the numbers: a frozen judgement and the controls' last message.
#[derive(Debug, Clone, Default)]
struct Notes {
    judged: Option<serde_json::Value>,
    message: Option<String>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed showing `first`.
    pub fn new(first: &View) -> Feed {
        let (latest, _) = watch::channel(encode(first));
        Feed {
            latest,
            history: Arc::default(),
            downloads: Arc::default(),
            notes: Arc::default(),
        }
    }

    /// Shows `view` to every open page; its point joins the charts' history.
    pub fn publish(&self, view: &View) {
        if let Some(p) = view.point {
            let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if h.last().is_none_or(|last| p.t > last.t) {
                if h.len() >= MAX_POINTS {
                    h.remove(0);
                }
                h.push(p);
            }
        }
        let mut view = view.clone();
        view.report = self.downloads().html.is_some();
        let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        view.judged = notes.judged;
        view.message = notes.message;
        self.latest.send_replace(encode(&view));
    }

    /// Freezes the checks of the latest view (when, headline, each check) for the page to keep
    /// showing, and shows the latest view again with them.
    pub fn judge_now(&self) {
        let latest: serde_json::Value = serde_json::from_str(&self.latest()).unwrap_or_default();
        let judged = serde_json::json!({
            "at_s": latest["elapsed_s"],
            "headline": latest["headline"].as_str().unwrap_or("").trim_start_matches("provisional: "),
            "checks": latest["checks"],
        });
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).judged = Some(judged.clone());
        if let serde_json::Value::Object(mut v) = latest {
            v.insert("judged".into(), judged);
            self.latest
                .send_replace(serde_json::Value::Object(v).to_string().into());
        }
    }

    /// Shows `message` with every later view (None clears it), and at once with the latest.
    pub fn say(&self, message: Option<String>) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).message = message.clone();
        let latest: serde_json::Value = serde_json::from_str(&self.latest()).unwrap_or_default();
        if let serde_json::Value::Object(mut v) = latest {
            v.insert("message".into(), message.map_or(serde_json::Value::Null, Into::into));
            self.latest
                .send_replace(serde_json::Value::Object(v).to_string().into());
        }
    }

    /// Starts a new run: the charts' history and the downloads are cleared.
    pub fn reset(&self) {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).judged = None;
        *self.downloads.lock().unwrap_or_else(|e| e.into_inner()) = Downloads::default();
    }

    /// Offers a finished run's files for download.
    pub fn set_downloads(&self, d: Downloads) {
        *self.downloads.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// The files offered for download.
    pub fn downloads(&self) -> Downloads {
        self.downloads.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The latest view, encoded.
    pub fn latest(&self) -> Arc<str> {
        self.latest.borrow().clone()
    }

    /// A reader of every later view (it sees the newest only, never a queue).
    pub fn subscribe(&self) -> watch::Receiver<Arc<str>> {
        self.latest.subscribe()
    }

    /// The charts' history, encoded.
    pub fn history(&self) -> String {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_string(&*h).unwrap_or_else(|_| "[]".into())
    }
}

fn encode(v: &View) -> Arc<str> {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_newest_view_and_the_history_keeps_each_point_once() {
        let mut v = super::super::view::idle("g", "http://127.0.0.1:1");
        let feed = Feed::new(&v);
        let mut rx = feed.subscribe();
        for t in [1.0, 2.0, 2.0, 3.0] {
            v.point = Some(Point { t, ..Point::default() });
            v.elapsed_s = t;
            feed.publish(&v);
        }
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().contains("\"elapsed_s\":3.0"));
        let h: Vec<serde_json::Value> = serde_json::from_str(&feed.history()).unwrap();
        assert_eq!(h.len(), 3);
        feed.reset();
        assert_eq!(feed.history(), "[]");
    }
}
