//! The chat panel's page: the document served at `/widget` inside the frame
//! the loader adds to a host page.

use maud::{DOCTYPE, Markup, html};

/// What the panel page needs from the server.
#[derive(Clone, Debug)]
pub struct WidgetPage {
    /// The disclaimer shown (and accepted) before anything else.
    pub disclaimer: String,
    /// Its version, sent back when accepting.
    pub disclaimer_version: String,
    /// Whether visitors may ask general questions without signing in.
    pub allow_anonymous: bool,
}

/// The panel page. All behaviour is in `/assets/widget-app.js`.
pub fn page(v: &WidgetPage) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Haven health chat" }
                link rel="stylesheet" href="/assets/widget.css";
                script src="/assets/widget-app.js" defer {}
            }
            body {
                main #haven-app data-anonymous=(v.allow_anonymous) data-version=(v.disclaimer_version) {
                    header { h1 { "Health questions" } }
                    section #hv-consent aria-labelledby="hv-consent-title" {
                        h2 #hv-consent-title { "Before you start" }
                        p.hv-disclaimer-text { (v.disclaimer) }
                        p { "By continuing you accept this notice. Do not use this chat in an emergency: call 911." }
                        button #hv-accept type="button" { "I understand and accept" }
                    }
                    section #hv-choose hidden aria-labelledby="hv-choose-title" {
                        h2 #hv-choose-title { "How would you like to continue?" }
                        p { button #hv-guest type="button" { "Ask a general question" } }
                        p { button #hv-signin-open .hv-secondary type="button" { "Sign in for appointments" } }
                        p #hv-choose-error .hv-error role="alert" hidden {}
                    }
                    form #hv-signin hidden aria-labelledby="hv-signin-title" {
                        h2 #hv-signin-title { "Sign in" }
                        label for="hv-user" { "Username" }
                        input #hv-user name="username" autocomplete="username" required;
                        label for="hv-pass" { "Password" }
                        input #hv-pass name="password" type="password" autocomplete="current-password" required;
                        p { button #hv-signin-submit type="submit" { "Sign in" } }
                        p #hv-signin-error .hv-error role="alert" hidden {}
                    }
                    form #hv-code hidden aria-labelledby="hv-code-title" {
                        h2 #hv-code-title { "Second step" }
                        div #hv-enrol hidden {
                            p { "Scan this code with an authenticator app, or type the key below into it." }
                            img #hv-qr alt="QR code for your authenticator app";
                            p { "Key: " span #hv-secret {} }
                        }
                        label for="hv-totp" { "6-digit code from your authenticator app" }
                        input #hv-totp name="code" inputmode="numeric" autocomplete="one-time-code" required;
                        p { button #hv-code-submit type="submit" { "Verify" } }
                        p #hv-code-error .hv-error role="alert" hidden {}
                    }
                    section #hv-recovery hidden aria-labelledby="hv-recovery-title" {
                        h2 #hv-recovery-title { "Your recovery codes" }
                        p { "Keep these somewhere safe. Each one signs you in once if you lose your phone." }
                        ol #hv-codes {}
                        button #hv-recovery-done type="button" { "Continue" }
                    }
                    section #hv-chat hidden aria-label="Chat" {
                        p #hv-status {}
                        div #hv-banner role="alert" tabindex="-1" hidden {}
                        ol #hv-log role="log" aria-live="polite" aria-label="Conversation" {}
                        form #hv-send {
                            label.sr-only for="hv-input" { "Your message" }
                            textarea #hv-input name="text" maxlength="4000" placeholder="Type your question" {}
                            button #hv-mic .hv-secondary type="button" aria-label="Speak your question" aria-pressed="false" hidden { "\u{1F3A4}" }
                            button #hv-submit type="submit" { "Send" }
                        }
                    }
                }
            }
        }
    }
}
