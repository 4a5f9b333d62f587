//! Headless Chromium for the console's browser tests: chromedriver on a free loopback port,
//! one Chromium session through it (fantoccini), waiting lookups and screenshots into
//! `<target>/console-screenshots/`. Every browser test starts here, so the driver's flags,
//! the window size and the skip rule live in one place.
//!
//! Without `chromium` and `chromedriver` on the PATH (Debian: `chromium chromium-driver`,
//! which `.ci/run` installs) [`Browser::start`] prints SKIP and returns `None`.

use super::{screenshots, wait_for_port, which};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// How long a lookup waits for its element.
pub const WAIT: Duration = Duration::from_secs(10);

/// A Chromium session and the chromedriver behind it (killed on drop).
pub struct Browser {
    /// The WebDriver client (cheap to clone).
    pub b: Client,
    driver: tokio::process::Child,
    shots: PathBuf,
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.b
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (1400 × 1100); `None` (after printing
    /// SKIP) when either is not installed.
    pub async fn start() -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (
            which("chromium").or_else(|| which("chromium-browser")),
            which("chromedriver"),
        ) else {
            println!("SKIP: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_for_port(&format!("127.0.0.1:{port}")).await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1100", "--no-first-run", "--disable-extensions"],
            }),
        );
        let b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Some(Browser {
            b,
            driver,
            shots: screenshots(),
        })
    }

    /// The first element matching `css`, waiting up to [`WAIT`] for it; panics naming the
    /// selector when it does not come.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.b
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
    }

    /// Writes a screenshot of the page to `<target>/console-screenshots/<name>`; its path.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let png = self.b.screenshot().await.unwrap();
        let p = self.shots.join(name);
        std::fs::write(&p, png).unwrap();
        p
    }

    /// Opens the sign-in page of the service at `base`, signs in with `key` and waits for
    /// the signed-in page (the key's name in the header).
    pub async fn sign_in(&self, base: &str, key: &str) {
        self.b
            .goto(&format!("{base}/console/signin"))
            .await
            .unwrap();
        self.wait_for("#key").await;
        self.submit_key(key).await;
        self.wait_for("#who").await;
    }

    /// Fills the sign-in form on the current page with `key` and submits it.
    pub async fn submit_key(&self, key: &str) {
        self.b
            .form(Locator::Css("form[action='/console/signin']"))
            .await
            .unwrap()
            .set_by_name("key", key)
            .await
            .unwrap()
            .submit()
            .await
            .unwrap();
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        self.b.clone().close().await.unwrap();
        let _ = self.driver.kill().await;
    }
}
