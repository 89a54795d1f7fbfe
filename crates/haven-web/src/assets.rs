//! The static assets, embedded at build time: the widget's loader and chat
//! panel, and the console's style sheet and script.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

/// The script a host page includes: `<script src="https://HAVEN/widget.js" async>`.
pub const WIDGET_LOADER: Asset =
    Asset { path: "/widget.js", content_type: "text/javascript; charset=utf-8", body: include_str!("assets/embed.js") };

/// The chat panel's script (inside the `/widget` frame).
pub const WIDGET_APP: Asset = Asset {
    path: "/assets/widget-app.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/widget.js"),
};

/// The chat panel's style sheet.
pub const WIDGET_CSS: Asset = Asset {
    path: "/assets/widget.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/widget.css"),
};

/// The console's style sheet.
pub const CONSOLE_CSS: Asset = Asset {
    path: "/assets/console.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/console.css"),
};

/// The console's script (printing, confirmations).
pub const CONSOLE_JS: Asset = Asset {
    path: "/assets/console.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/console.js"),
};

/// Every embedded asset.
pub const ALL: [Asset; 5] = [WIDGET_LOADER, WIDGET_APP, WIDGET_CSS, CONSOLE_CSS, CONSOLE_JS];

/// The asset served at `path`.
pub fn by_path(path: &str) -> Option<Asset> {
    ALL.into_iter().find(|a| a.path == path)
}

/// What a browser downloads for the widget: loader, panel script and style
/// sheet, plus the panel page itself (measured separately by the server).
pub const WIDGET_FILES: [Asset; 3] = [WIDGET_LOADER, WIDGET_APP, WIDGET_CSS];

/// The widget's budget: at most this many bytes, gzipped, for everything it loads.
pub const WIDGET_GZIP_BUDGET: usize = 50 * 1024;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    fn gzipped(bytes: &[u8]) -> usize {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap().len()
    }

    #[test]
    fn the_widget_is_at_most_50_kb_gzipped() {
        let page = crate::widget::page(&crate::widget::WidgetPage {
            disclaimer: "x".repeat(600),
            disclaimer_version: "v1".into(),
            allow_anonymous: true,
        })
        .into_string();
        let total: usize =
            WIDGET_FILES.iter().map(|a| gzipped(a.body.as_bytes())).sum::<usize>() + gzipped(page.as_bytes());
        println!("widget: {total} bytes gzipped (loader, panel page, script, style sheet)");
        assert!(total <= WIDGET_GZIP_BUDGET, "the widget is {total} bytes gzipped; the budget is {WIDGET_GZIP_BUDGET}");
    }

    #[test]
    fn assets_are_found_by_path_and_use_no_framework() {
        for a in ALL {
            assert_eq!(by_path(a.path).unwrap().path, a.path);
        }
        assert!(by_path("/assets/nope.js").is_none());
        for a in WIDGET_FILES {
            assert!(!a.body.contains("import "), "{} loads nothing else", a.path);
        }
    }
}
