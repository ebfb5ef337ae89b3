//! The module catalogue (a deterministic list of about 40 content-collection modules) and the validation
//! of module parameters.

use std::collections::HashMap;

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

/// A parameter's input type, as the reference's front end renders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ParamType {
    Text,
    Number,
    Select,
    Checkbox,
    Password,
}

/// One parameter definition of a module.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ParamDef {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: ParamType,
    pub default: Value,
    pub options: Option<Vec<&'static str>>,
    pub required: bool,
    pub description: String,
    #[serde(serialize_with = "whole_or_float")]
    pub min: Option<f64>,
    #[serde(serialize_with = "whole_or_float")]
    pub max: Option<f64>,
}

/// Writes whole numbers without a fraction (`500`, not `500.0`).
fn whole_or_float<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// One module of the catalogue (the static part; run statistics are added per request).
#[derive(Clone, Debug)]
pub(crate) struct ModuleDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub version: String,
    pub script_path: String,
    pub parameters: Vec<ParamDef>,
    pub tags: Vec<&'static str>,
    /// Runs before the demo started (part of `total_runs`), how many succeeded, and the last one's time.
    pub history_runs: u64,
    pub history_ok: u64,
    pub history_last: Option<u64>,
}

/// The run statistics of one module that the catalogue shows next to its definition.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModuleActivity {
    pub active: usize,
    pub launched: u64,
    pub completed: u64,
    pub failed: u64,
    pub last_run: Option<u64>,
}

/// A module as the API shows it.
#[derive(Serialize)]
pub(crate) struct ModuleView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    category: &'a str,
    version: &'a str,
    script_path: &'a str,
    parameters: &'a [ParamDef],
    tags: &'a [&'static str],
    status: &'static str,
    enabled: bool,
    last_run: Option<String>,
    total_runs: u64,
    success_rate: f64,
}

impl ModuleDef {
    /// The API view of this module given its live activity.
    pub(crate) fn view<'a>(&'a self, act: Option<&ModuleActivity>) -> ModuleView<'a> {
        let none = ModuleActivity::default();
        let act = act.unwrap_or(&none);
        let finished = (self.history_runs + act.completed + act.failed) as f64;
        let ok = (self.history_ok + act.completed) as f64;
        let success_rate = if finished > 0.0 {
            (ok / finished * 1000.0).round() / 10.0
        } else {
            0.0
        };
        ModuleView {
            id: &self.id,
            name: &self.name,
            description: &self.description,
            category: &self.category,
            version: &self.version,
            script_path: &self.script_path,
            parameters: &self.parameters,
            tags: &self.tags,
            status: if act.active > 0 { "running" } else { "idle" },
            enabled: true,
            last_run: act.last_run.or(self.history_last).map(super::time::iso),
            total_runs: self.history_runs + act.launched,
            success_rate,
        }
    }

    /// Each parameter's default value, in definition order.
    pub(crate) fn defaults(&self) -> Map<String, Value> {
        self.parameters
            .iter()
            .map(|p| (p.name.to_string(), p.default.clone()))
            .collect()
    }

    /// Defaults, overridden by each layer in turn (saved config, then the request's parameters).
    pub(crate) fn merged(&self, layers: &[&Map<String, Value>]) -> Map<String, Value> {
        let mut out = self.defaults();
        for layer in layers {
            for (k, v) in layer.iter() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// Checks parameter values against their definitions; unknown names are accepted as-is.
    /// The error lists every problem, in the reference's words (type mismatch, range, option, required).
    pub(crate) fn validate(&self, params: &Map<String, Value>) -> Result<(), String> {
        let mut problems = Vec::new();
        for (name, value) in params {
            let Some(def) = self.parameters.iter().find(|p| p.name == name) else {
                continue;
            };
            if let Err(why) = check(def, value) {
                problems.push(format!("parameter '{name}' {why}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "Invalid parameters for module '{}': {}",
                self.id,
                problems.join("; ")
            ))
        }
    }
}

fn check(def: &ParamDef, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return if def.required {
            Err("is required and cannot be null".into())
        } else {
            Ok(())
        };
    }
    match def.kind {
        ParamType::Number => {
            let Some(x) = value.as_f64() else {
                return Err(format!("must be a number, got {}", kind_of(value)));
            };
            let whole = def.default.is_i64() || def.default.is_u64();
            if whole && x.fract() != 0.0 {
                return Err(format!("must be a whole number, got {value}"));
            }
            match (def.min, def.max) {
                (Some(lo), Some(hi)) if x < lo || x > hi => {
                    Err(format!("must be between {} and {}, got {value}", show(lo), show(hi)))
                }
                (Some(lo), None) if x < lo => Err(format!("must be at least {}, got {value}", show(lo))),
                (None, Some(hi)) if x > hi => Err(format!("must be at most {}, got {value}", show(hi))),
                _ => Ok(()),
            }
        }
        ParamType::Select => {
            let Some(s) = value.as_str() else {
                return Err(format!("must be one of the options, got {}", kind_of(value)));
            };
            let options = def.options.as_deref().unwrap_or(&[]);
            if options.contains(&s) {
                Ok(())
            } else {
                Err(format!("must be one of {}, got '{s}'", options.join(", ")))
            }
        }
        ParamType::Checkbox => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(format!("must be true or false, got {}", kind_of(value)))
            }
        }
        ParamType::Text | ParamType::Password => match value.as_str() {
            None => Err(format!("must be a string, got {}", kind_of(value))),
            Some(s) if s.chars().count() > 500 => Err("must be at most 500 characters long".into()),
            Some(s) if def.required && s.trim().is_empty() => Err("is required and cannot be empty".into()),
            Some(_) => Ok(()),
        },
    }
}

fn show(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A module's saved configuration.
#[derive(Clone, Debug)]
pub(crate) struct SavedConfig {
    pub parameters: Map<String, Value>,
    pub updated_at: u64,
}

/// All modules, with an index by id.
pub(crate) struct Catalogue {
    modules: Vec<ModuleDef>,
    by_id: HashMap<String, usize>,
}

impl Catalogue {
    /// Builds the deterministic catalogue.
    pub(crate) fn generate() -> Catalogue {
        let modules: Vec<ModuleDef> = SPECS.iter().enumerate().map(|(i, s)| module(i, s)).collect();
        let by_id = modules.iter().enumerate().map(|(i, m)| (m.id.clone(), i)).collect();
        Catalogue { modules, by_id }
    }

    /// Every module, in catalogue order.
    pub(crate) fn all(&self) -> &[ModuleDef] {
        &self.modules
    }

    /// The module with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&ModuleDef> {
        self.by_id.get(id).and_then(|&i| self.modules.get(i))
    }

    /// How many modules there are.
    pub(crate) fn len(&self) -> usize {
        self.modules.len()
    }
}

/// The families of modules; most add one parameter of their own to the common ones.
#[derive(Clone, Copy)]
enum Family {
    Video,
    Social,
    News,
    Commerce,
    Audio,
    Code,
    Processing,
}

struct Spec {
    id: &'static str,
    name: &'static str,
    category: &'static str,
    what: &'static str,
    tags: &'static [&'static str],
    family: Family,
}

const fn spec(
    id: &'static str,
    name: &'static str,
    category: &'static str,
    what: &'static str,
    tags: &'static [&'static str],
    family: Family,
) -> Spec {
    Spec {
        id,
        name,
        category,
        what,
        tags,
        family,
    }
}

use Family::*;

#[rustfmt::skip]
const SPECS: &[Spec] = &[
    spec("youtube_shorts", "YouTube Shorts Source", "Sources/Content/Shorts", "trending YouTube Shorts", &["youtube", "shorts", "video"], Video),
    spec("tiktok_videos", "TikTok Videos Source", "Sources/Content/Shorts", "trending TikTok videos", &["tiktok", "shorts", "video"], Video),
    spec("instagram_reels", "Instagram Reels Source", "Sources/Content/Shorts", "popular Instagram Reels", &["instagram", "reels", "video"], Video),
    spec("snapchat_spotlight", "Snapchat Spotlight Source", "Sources/Content/Shorts", "Snapchat Spotlight highlights", &["snapchat", "shorts", "video"], Video),
    spec("youtube_videos", "YouTube Videos Source", "Sources/Content/Video", "long-form YouTube videos", &["youtube", "video"], Video),
    spec("youtube_channels", "YouTube Channels Source", "Sources/Content/Video", "rising YouTube channels", &["youtube", "channels"], Video),
    spec("twitch_clips", "Twitch Clips Source", "Sources/Content/Video", "top Twitch clips", &["twitch", "clips", "streaming"], Video),
    spec("vimeo_videos", "Vimeo Videos Source", "Sources/Content/Video", "staff-picked Vimeo videos", &["vimeo", "video"], Video),
    spec("dailymotion_videos", "Dailymotion Videos Source", "Sources/Content/Video", "trending Dailymotion videos", &["dailymotion", "video"], Video),
    spec("reddit_posts", "Reddit Posts Source", "Sources/Social/Forums", "hot Reddit posts", &["reddit", "posts", "social"], Social),
    spec("reddit_comments", "Reddit Comments Source", "Sources/Social/Forums", "top Reddit comment threads", &["reddit", "comments", "social"], Social),
    spec("twitter_trends", "X (Twitter) Trends Source", "Sources/Social/Microblogs", "trending X (Twitter) topics", &["twitter", "x", "trends"], Social),
    spec("mastodon_posts", "Mastodon Posts Source", "Sources/Social/Microblogs", "popular Mastodon posts", &["mastodon", "fediverse"], Social),
    spec("bluesky_posts", "Bluesky Posts Source", "Sources/Social/Microblogs", "popular Bluesky posts", &["bluesky", "social"], Social),
    spec("threads_posts", "Threads Posts Source", "Sources/Social/Microblogs", "popular Threads posts", &["threads", "meta", "social"], Social),
    spec("linkedin_posts", "LinkedIn Posts Source", "Sources/Social/Professional", "viral LinkedIn posts", &["linkedin", "social"], Social),
    spec("facebook_pages", "Facebook Pages Source", "Sources/Social/Pages", "engaging Facebook page posts", &["facebook", "meta"], Social),
    spec("hacker_news", "Hacker News Source", "Sources/News/Aggregators", "Hacker News front-page stories", &["hackernews", "news", "tech"], News),
    spec("google_news", "Google News Source", "Sources/News/Aggregators", "Google News headlines", &["google", "news"], News),
    spec("rss_feeds", "RSS Feeds Source", "Sources/News/Feeds", "entries from RSS and Atom feeds", &["rss", "feeds", "news"], News),
    spec("medium_articles", "Medium Articles Source", "Sources/News/Blogs", "popular Medium articles", &["medium", "blogs"], News),
    spec("substack_posts", "Substack Posts Source", "Sources/News/Blogs", "trending Substack newsletters", &["substack", "newsletters"], News),
    spec("devto_articles", "DEV Community Source", "Sources/News/Blogs", "top DEV Community articles", &["devto", "blogs", "tech"], News),
    spec("amazon_products", "Amazon Products Source", "Sources/Commerce/Marketplaces", "Amazon best-selling products", &["amazon", "products", "commerce"], Commerce),
    spec("ebay_listings", "eBay Listings Source", "Sources/Commerce/Marketplaces", "most-watched eBay listings", &["ebay", "listings", "commerce"], Commerce),
    spec("etsy_listings", "Etsy Listings Source", "Sources/Commerce/Marketplaces", "trending Etsy listings", &["etsy", "handmade", "commerce"], Commerce),
    spec("product_hunt", "Product Hunt Source", "Sources/Commerce/Launches", "Product Hunt launches", &["producthunt", "launches"], Commerce),
    spec("spotify_podcasts", "Spotify Podcasts Source", "Sources/Audio/Podcasts", "top Spotify podcast episodes", &["spotify", "podcasts", "audio"], Audio),
    spec("apple_podcasts", "Apple Podcasts Source", "Sources/Audio/Podcasts", "Apple Podcasts chart episodes", &["apple", "podcasts", "audio"], Audio),
    spec("soundcloud_tracks", "SoundCloud Tracks Source", "Sources/Audio/Music", "trending SoundCloud tracks", &["soundcloud", "music", "audio"], Audio),
    spec("github_trending", "GitHub Trending Source", "Sources/Code/Repositories", "trending GitHub repositories", &["github", "code", "trending"], Code),
    spec("stackoverflow_questions", "Stack Overflow Source", "Sources/Code/Q&A", "hot Stack Overflow questions", &["stackoverflow", "questions", "code"], Code),
    spec("npm_packages", "npm Packages Source", "Sources/Code/Packages", "fast-rising npm packages", &["npm", "javascript", "packages"], Code),
    spec("classification", "Content Classification", "Processing/Classification", "collected items into categories", &["classification", "ml"], Processing),
    spec("sentiment_analysis", "Sentiment Analysis", "Processing/Classification", "collected items by sentiment", &["sentiment", "nlp", "ml"], Processing),
    spec("topic_clustering", "Topic Clustering", "Processing/Classification", "collected items into topics", &["topics", "clustering", "ml"], Processing),
    spec("language_detection", "Language Detection", "Processing/Classification", "collected items by language", &["language", "nlp"], Processing),
    spec("virality_scoring", "Virality Scoring", "Processing/Scoring", "collected items by predicted virality", &["scoring", "virality", "ml"], Processing),
    spec("quality_scoring", "Quality Scoring", "Processing/Scoring", "collected items by editorial quality", &["scoring", "quality"], Processing),
    spec("deduplication", "Deduplication", "Processing/Cleaning", "near-duplicate items across sources", &["dedup", "cleaning"], Processing),
];

/// Content categories every module can filter on (the reference's load test saves `"category": "Gaming"`).
const CATEGORIES: &[&str] = &["All", "Gaming", "Music", "News", "Sports"];
const WINDOWS: &[&str] = &["hour", "day", "week"];

fn select(name: &'static str, options: &'static [&'static str], default: &'static str, description: &str) -> ParamDef {
    ParamDef {
        name,
        kind: ParamType::Select,
        default: json!(default),
        options: Some(options.to_vec()),
        required: false,
        description: description.to_string(),
        min: None,
        max: None,
    }
}

fn number(name: &'static str, default: Value, min: f64, max: f64, required: bool, description: &str) -> ParamDef {
    ParamDef {
        name,
        kind: ParamType::Number,
        default,
        options: None,
        required,
        description: description.to_string(),
        min: Some(min),
        max: Some(max),
    }
}

fn simple(name: &'static str, kind: ParamType, default: Value, required: bool, description: &str) -> ParamDef {
    ParamDef {
        name,
        kind,
        default,
        options: None,
        required,
        description: description.to_string(),
        min: None,
        max: None,
    }
}

/// SplitMix64: a deterministic hash for the catalogue's made-up history.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn module(i: usize, s: &Spec) -> ModuleDef {
    let h = mix(i as u64 + 1);
    let source = !matches!(s.family, Processing);
    let mut parameters = vec![
        number(
            "max_results",
            json!(50),
            1.0,
            500.0,
            true,
            if source {
                "Maximum items to collect"
            } else {
                "Maximum items to process"
            },
        ),
        select("category", CATEGORIES, "All", "Content category"),
    ];
    let platform = s.name.trim_end_matches(" Source");
    let extra = match s.family {
        Video => Some(simple(
            "include_comments",
            ParamType::Checkbox,
            json!(false),
            false,
            "Also fetch top comments",
        )),
        Social => Some(simple(
            "api_token",
            ParamType::Password,
            json!(""),
            false,
            &format!("{platform} access token"),
        )),
        Commerce => Some(simple("query", ParamType::Text, json!(""), false, "Search terms")),
        Code => Some(select("time_window", WINDOWS, "week", "How far back to look")),
        Processing => Some(number(
            "confidence_threshold",
            json!(0.7),
            0.0,
            1.0,
            false,
            "Minimum confidence kept",
        )),
        News | Audio => None,
    };
    parameters.extend(extra);
    let history_runs = h % 240;
    let history_ok = history_runs * (85 + (h >> 16) % 15) / 100;
    // Some time in the week before 2025-11-06.
    let history_last = (history_runs > 0).then(|| 1_761_868_800_000_000 + (h >> 24) % 604_800_000_000);
    let folder: String = platform
        .split_whitespace()
        .filter(|w| w.chars().all(char::is_alphanumeric))
        .collect();
    let verb = if source { "Collect" } else { "Sort" };
    ModuleDef {
        id: s.id.to_string(),
        name: s.name.to_string(),
        description: format!("{verb} {}", s.what),
        category: s.category.to_string(),
        version: format!("1.{}.{}", h % 4, (h >> 8) % 10),
        script_path: format!("../../{}/{folder}/src/main.py", s.category.replace('&', "")),
        parameters,
        tags: s.tags.to_vec(),
        history_runs,
        history_ok,
        history_last,
    }
}
