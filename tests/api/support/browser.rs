//! A cookie-keeping "browser" that follows the provider's redirects and fills in its forms.

use url::Url;

/// Where the browser ended up: at the relying party's callback, or on a provider page.
#[derive(Debug)]
pub enum Landing {
    Callback(Url),
    Page {
        status: u16,
        url: String,
        body: String,
    },
}

impl Landing {
    pub fn callback(self) -> Url {
        match self {
            Landing::Callback(url) => url,
            Landing::Page { status, url, body } => {
                panic!("expected a redirect to the RP, got page {url} ({status}):\n{body}")
            }
        }
    }

    pub fn page(&self) -> &str {
        match self {
            Landing::Page { body, .. } => body,
            Landing::Callback(url) => panic!("expected a page, got a redirect to {url}"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Landing::Page { status, .. } => *status,
            Landing::Callback(_) => 303,
        }
    }

    pub fn is_login_page(&self) -> bool {
        matches!(self, Landing::Page { body, .. } if body.contains("name=\"password\""))
    }
}

/// A browser: keeps cookies, follows the provider's own redirects, stops at anything else.
pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

impl Browser {
    /// A browser for the provider at `base` (its own redirects are followed, others are not).
    pub fn new(base: &str) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn visit(&self, url: &str) -> Landing {
        let response = self.http.get(url).send().await.unwrap();
        self.land(response).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Landing {
        let response = self.http.post(url).form(form).send().await.unwrap();
        self.land(response).await
    }

    async fn land(&self, mut response: reqwest::Response) -> Landing {
        for _ in 0..10 {
            super::leaks::remember_cookies(&response);
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                let url = response.url().to_string();
                return Landing::Page {
                    status,
                    url,
                    body: response.text().await.unwrap(),
                };
            }
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = response.url().join(&location).unwrap();
            if !next.as_str().starts_with(&self.base) {
                if let Some((_, code)) = next.query_pairs().find(|(k, _)| k == "code") {
                    super::leaks::remember(&code);
                }
                return Landing::Callback(next);
            }
            response = self.http.get(next).send().await.unwrap();
        }
        panic!("redirect loop");
    }

    /// Fills in and submits the login form on `page`.
    pub async fn submit_login(&self, page: &str, login: &str, password: &str) -> Landing {
        let csrf = input_value(page, "csrf_token").expect("login form has a CSRF token");
        let req = input_value(page, "req").unwrap_or_default();
        super::leaks::remember(password);
        self.post(
            &format!("{}/login", self.base),
            &[
                ("csrf_token", &csrf),
                ("req", &req),
                ("login", login),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page on `page` with "allow" or "deny".
    pub async fn submit_consent(&self, page: &str, decision: &str) -> Landing {
        let csrf = input_value(page, "csrf_token").expect("consent form has a CSRF token");
        let req = input_value(page, "req").expect("consent form names its request");
        self.post(
            &format!("{}/consent", self.base),
            &[("csrf_token", &csrf), ("req", &req), ("decision", decision)],
        )
        .await
    }

    /// Confirms the logout page on `page`.
    pub async fn confirm_logout(&self, page: &str) -> Landing {
        let mut form = vec![("confirm".to_owned(), "yes".to_owned())];
        for name in [
            "csrf_token",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ] {
            if let Some(v) = input_value(page, name) {
                form.push((name.to_owned(), v));
            }
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(&format!("{}/logout", self.base), &form).await
    }
}

/// The `value` of the `<input name="…">` in `html`, unescaped.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let value = &tag[v..v + tag[v..].find('"')?];
    Some(
        value
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&"),
    )
}
