//! The OpenRTB 2.6 bid response, written straight into the connection's response buffer.
//!
//! No serde tree and no intermediate strings per bid beyond a reused markup scratch: the
//! response is a handful of fields per winner, escaped with serde_json's string writer. The
//! markup gets our tracking: the landing page's occurrences become our click redirect, a
//! banner gets an impression pixel, a VAST document gets an `<Impression>` element; `nurl`
//! and `burl` point at our own `/win` and `/imp` with `${AUCTION_PRICE}` for the exchange to
//! fill in, and `lurl` at `/loss` with `${AUCTION_LOSS}` (the loss reason code). Each of a
//! bid's URLs carries the token of its own event kind (`tracking::BidTokens`): the pixel's and
//! the click's tokens, which any browser sees, cannot report a win or a billing notice, the
//! only URLs whose price we read, nor a loss, which releases the bid's budget.

use super::{substitute_macros, CampaignSource, ExternalBid, Winner};
use crate::adrequest::AdRequest;
use crate::campaign::{Creative, CreativeFormat};
use crate::currency::{Currency, CurrencyTable};
use crate::json::{write_decimal, write_json_string};
use crate::tracking::{BidTokens, EventKind};

/// The seat every internal campaign bids under.
pub const SEAT: &str = "adshard";

/// What the writer needs besides the winners.
pub struct ResponseContext<'a> {
    /// Base of our tracking URLs, without a trailing slash.
    pub public_url: &'a str,
    pub currency: Currency,
    /// The request's valid external bids, which winners with an `external_idx` index.
    pub external: &'a [ExternalBid],
    /// Converts an external winner's clearing price into its bidder's currency for
    /// `${AUCTION_PRICE}`.
    pub currencies: &'a CurrencyTable,
}

/// Appends `,"w":W,"h":H`.
fn write_size(out: &mut Vec<u8>, w: u32, h: u32) {
    out.extend_from_slice(b",\"w\":");
    write_decimal(out, u64::from(w));
    out.extend_from_slice(b",\"h\":");
    write_decimal(out, u64::from(h));
}

/// Appends `micros` as a decimal currency amount ("1.5", "0.03", "2").
pub fn write_micros(out: &mut Vec<u8>, micros: i64) {
    let negative = micros < 0;
    let magnitude = micros.unsigned_abs();
    let (units, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
    if negative {
        out.push(b'-');
    }
    write_decimal(out, units);
    if fraction != 0 {
        let mut digits = [b'0'; 6];
        let mut rest = fraction;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let len = 6 - digits.iter().rev().take_while(|d| **d == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
}

/// Appends the tracking URL of event `kind` of one bid: our public URL, the kind's path and
/// its token.
fn push_url(out: &mut String, public_url: &str, kind: EventKind, tokens: &BidTokens) {
    out.push_str(public_url);
    out.push_str(kind.path());
    out.push_str("?t=");
    tokens.push(kind, out);
}

/// Builds the markup with our click redirect and impression tracking into `adm`.
pub fn build_markup(creative: &Creative, public_url: &str, tokens: &BidTokens, adm: &mut String) {
    build_markup_with(
        creative,
        |hole, out: &mut String| push_url(out, public_url, hole.kind(), tokens),
        adm,
    );
}

/// `build_markup` with the tracking URLs written by `url`.
fn build_markup_with(
    creative: &Creative,
    mut url: impl FnMut(Hole, &mut String),
    adm: &mut String,
) {
    adm.clear();
    let markup = creative.markup.as_str();
    let landing = creative.landing_page.as_str();
    // Where a VAST document gets its <Impression>: right inside the first <InLine> or
    // <Wrapper> element.
    let impression_at = match creative.format {
        CreativeFormat::Video | CreativeFormat::Audio => markup
            .find("<InLine")
            .or_else(|| markup.find("<Wrapper"))
            .and_then(|open| markup[open..].find('>').map(|close| open + close + 1)),
        CreativeFormat::Banner | CreativeFormat::Native => None,
    };
    let (head, tail) = markup.split_at(impression_at.unwrap_or(markup.len()));
    push_redirected(adm, head, landing, &mut url);
    if impression_at.is_some() {
        adm.push_str("<Impression><![CDATA[");
        url(Hole::Impression, adm);
        adm.push_str("]]></Impression>");
    }
    push_redirected(adm, tail, landing, &mut url);
    if creative.format == CreativeFormat::Banner {
        adm.push_str("<img src=\"");
        url(Hole::Impression, adm);
        adm.push_str("\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">");
    }
}

/// A creative's markup, JSON-escaped once when the catalog is built, with holes where the
/// per-bid tracking URLs go. Writing a bid's `adm` is then a few copies instead of scanning
/// and escaping the whole markup per request: the tracking URLs are JSON-safe as they are
/// (the public URL is checked once, the token is base64url).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkupTemplate {
    /// The escaped markup with the holes cut out.
    escaped: Vec<u8>,
    /// (offset in `escaped`, what goes there), in offset order.
    holes: Vec<(usize, Hole)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Click,
    Impression,
}

impl Hole {
    /// The event whose URL fills the hole: the markup is the browser's, so only the pixel and
    /// the click go there, never a token that may carry a price.
    fn kind(self) -> EventKind {
        match self {
            Hole::Click => EventKind::Click,
            Hole::Impression => EventKind::Impression,
        }
    }
}

impl MarkupTemplate {
    /// Builds the template by running `build_markup` with a marker token and cutting the
    /// markers out, so the template and `build_markup` cannot disagree.
    pub fn build(creative: &Creative) -> MarkupTemplate {
        // Neither marker can occur in markup we produce: they contain a NUL byte.
        const CLICK: &str = "\u{0}CLICK\u{0}";
        const IMPRESSION: &str = "\u{0}IMP\u{0}";
        let mut adm = String::new();
        build_markup_with(
            creative,
            |kind, out: &mut String| {
                out.push_str(match kind {
                    Hole::Click => CLICK,
                    Hole::Impression => IMPRESSION,
                })
            },
            &mut adm,
        );
        let mut template = MarkupTemplate::default();
        let mut rest = adm.as_str();
        loop {
            let next = [
                (rest.find(CLICK), Hole::Click, CLICK.len()),
                (rest.find(IMPRESSION), Hole::Impression, IMPRESSION.len()),
            ]
            .into_iter()
            .filter_map(|(at, hole, len)| Some((at?, hole, len)))
            .min_by_key(|(at, _, _)| *at);
            let Some((at, hole, len)) = next else { break };
            push_escaped(&mut template.escaped, &rest[..at]);
            template.holes.push((template.escaped.len(), hole));
            rest = &rest[at + len..];
        }
        push_escaped(&mut template.escaped, rest);
        template
    }

    /// Appends the markup as a JSON string literal, with `public_url` and the bid's `tokens`
    /// filling the holes. `public_url` must be JSON-safe (no quote, backslash or control
    /// character); tokens are by construction.
    pub fn write_json(&self, out: &mut Vec<u8>, public_url: &str, tokens: &BidTokens) {
        debug_assert!(json_safe(public_url));
        out.push(b'"');
        let mut copied = 0;
        for (offset, hole) in &self.holes {
            out.extend_from_slice(&self.escaped[copied..*offset]);
            out.extend_from_slice(public_url.as_bytes());
            out.extend_from_slice(match hole {
                Hole::Click => b"/click?t=",
                Hole::Impression => b"/imp?t=",
            });
            tokens.write(hole.kind(), out);
            copied = *offset;
        }
        out.extend_from_slice(&self.escaped[copied..]);
        out.push(b'"');
    }
}

/// True when `text` can go inside a JSON string literal without escaping.
pub fn json_safe(text: &str) -> bool {
    text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// `text` escaped for the inside of a JSON string literal (without the quotes).
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    write_json_string(out, text);
    // Drop the quotes serde_json wrote around it.
    out.pop();
    out.remove(start);
}

/// Copies `markup` into `adm` with every occurrence of the landing page replaced by our click
/// redirect, which answers 302 to that landing page after counting the click. In HTML the
/// landing page's `&` is usually written `&amp;`; both spellings match.
fn push_redirected(
    adm: &mut String,
    markup: &str,
    landing: &str,
    url: &mut impl FnMut(Hole, &mut String),
) {
    let bytes = markup.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    while !landing.is_empty() && at < bytes.len() {
        match landing_len_at(&bytes[at..], landing.as_bytes()) {
            Some(len) => {
                adm.push_str(&markup[copied..at]);
                url(Hole::Click, adm);
                at += len;
                copied = at;
            }
            None => at += 1,
        }
    }
    adm.push_str(&markup[copied..]);
}

/// The length of `markup`'s prefix that spells `landing`, with `&` also matching `&amp;`.
fn landing_len_at(markup: &[u8], landing: &[u8]) -> Option<usize> {
    let mut len = 0;
    for &byte in landing {
        let rest = markup.get(len..)?;
        if byte == b'&' && rest.starts_with(b"&amp;") {
            len += 5;
        } else if rest.first() == Some(&byte) {
            len += 1;
        } else {
            return None;
        }
    }
    Some(len)
}

/// OpenRTB 2.6 `mtype` of a creative.
fn mtype(format: CreativeFormat) -> u8 {
    match format {
        CreativeFormat::Banner => 1,
        CreativeFormat::Video => 2,
        CreativeFormat::Audio => 3,
        CreativeFormat::Native => 4,
    }
}

/// Writes the bid response for `winners` into `out` (cleared first). `sign` fills the
/// tracking tokens of a winner into `tokens`; `adm` and `url` are reused scratch strings.
#[allow(clippy::too_many_arguments)]
pub fn write_bid_response(
    out: &mut Vec<u8>,
    request: &AdRequest,
    winners: &[Winner],
    source: &dyn CampaignSource,
    context: &ResponseContext<'_>,
    sign: &mut dyn FnMut(&Winner, &mut BidTokens),
    tokens: &mut BidTokens,
    adm: &mut String,
    url: &mut String,
) {
    out.clear();
    // Checked once: when it needs no escaping, neither do our tracking URLs.
    let public_url_safe = json_safe(context.public_url);
    out.extend_from_slice(b"{\"id\":");
    write_json_string(out, &request.id);
    out.extend_from_slice(b",\"cur\":");
    write_json_string(out, context.currency.as_str());
    out.extend_from_slice(b",\"seatbid\":[{\"seat\":\"");
    out.extend_from_slice(SEAT.as_bytes());
    out.extend_from_slice(b"\",\"bid\":[");
    for (winner_idx, winner) in winners.iter().enumerate() {
        if let Some(external_idx) = winner.external_idx {
            let Some(bid) = context.external.get(external_idx as usize) else {
                debug_assert!(
                    false,
                    "winner names an external bid the request does not have"
                );
                continue;
            };
            if winner_idx > 0 {
                out.push(b',');
            }
            write_external_bid(out, request, winner, bid, context, adm);
            continue;
        }
        let campaign = source.campaign(winner.campaign_idx);
        let Some(creative) = campaign.creatives.get(winner.creative_idx) else {
            debug_assert!(false, "winner names a creative its campaign does not have");
            continue;
        };
        let Some(imp) = request.imps().get(winner.imp_idx) else {
            debug_assert!(
                false,
                "winner names an impression the request does not have"
            );
            continue;
        };
        tokens.clear();
        sign(winner, tokens);
        if winner_idx > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        url.clear();
        url.push_str(&campaign.id);
        url.push(':');
        url.push_str(request.text(imp.id));
        write_json_string(out, url);
        out.extend_from_slice(b",\"impid\":");
        write_json_string(out, request.text(imp.id));
        out.extend_from_slice(b",\"price\":");
        write_micros(out, winner.price_micros);
        out.extend_from_slice(b",\"adid\":");
        write_json_string(out, &creative.id);
        out.extend_from_slice(b",\"crid\":");
        write_json_string(out, &creative.id);
        out.extend_from_slice(b",\"cid\":");
        write_json_string(out, &campaign.id);
        out.extend_from_slice(b",\"adomain\":[");
        write_json_string(out, &campaign.adomain);
        out.push(b']');
        write_string_array(
            out,
            b",\"cat\":",
            creative.categories.iter().map(String::as_str),
        );
        if !creative.attributes.is_empty() {
            out.extend_from_slice(b",\"attr\":[");
            for (attribute_idx, attribute) in creative.attributes.iter().enumerate() {
                if attribute_idx > 0 {
                    out.push(b',');
                }
                write_decimal(out, u64::from(*attribute));
            }
            out.push(b']');
        }
        if creative.w > 0 && creative.h > 0 {
            write_size(out, creative.w, creative.h);
        }
        out.extend_from_slice(b",\"mtype\":");
        write_decimal(out, u64::from(mtype(creative.format)));
        write_notice_urls(out, context.public_url, public_url_safe, tokens, url);
        out.extend_from_slice(b",\"adm\":");
        match source.markup_template(winner.campaign_idx, winner.creative_idx) {
            Some(template) if public_url_safe => {
                template.write_json(out, context.public_url, tokens)
            }
            _ => {
                build_markup(creative, context.public_url, tokens, adm);
                write_json_string(out, adm);
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}]}");
}

/// Appends the exchange's notice URLs of one bid: `nurl` and `burl`, the only URLs whose price
/// (`p`) we read, and `lurl`, whose loss notice releases the bid's commitment. With a JSON-safe
/// `public_url` they are written straight into `out`: the rest of each URL (path, token in
/// base64url, macro) needs no escaping, so the escaping scan and the copy through `url` are
/// skipped; otherwise each is built in `url` and escaped.
fn write_notice_urls(
    out: &mut Vec<u8>,
    public_url: &str,
    public_url_safe: bool,
    tokens: &BidTokens,
    url: &mut String,
) {
    for (key, kind, suffix) in [
        (&b",\"nurl\":"[..], EventKind::Win, "&p=${AUCTION_PRICE}"),
        (
            &b",\"burl\":"[..],
            EventKind::Billing,
            "&p=${AUCTION_PRICE}",
        ),
        (
            &b",\"lurl\":"[..],
            EventKind::Loss,
            "&reason=${AUCTION_LOSS}",
        ),
    ] {
        out.extend_from_slice(key);
        if public_url_safe {
            debug_assert!(json_safe(kind.path()) && json_safe(suffix));
            out.push(b'"');
            out.extend_from_slice(public_url.as_bytes());
            out.extend_from_slice(kind.path().as_bytes());
            out.extend_from_slice(b"?t=");
            tokens.write(kind, out);
            out.extend_from_slice(suffix.as_bytes());
            out.push(b'"');
        } else {
            url.clear();
            push_url(url, public_url, kind, tokens);
            url.push_str(suffix);
            write_json_string(out, url);
        }
    }
}

/// Appends `key` and the JSON array of `items`, or nothing when there are none.
fn write_string_array<'a>(out: &mut Vec<u8>, key: &[u8], items: impl Iterator<Item = &'a str>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    out.extend_from_slice(key);
    out.push(b'[');
    for (item_idx, item) in items.enumerate() {
        if item_idx > 0 {
            out.push(b',');
        }
        write_json_string(out, item);
    }
    out.push(b']');
}

/// An external bidder's winning bid, passed through with its OpenRTB macros filled in: the
/// clearing price (in the bidder's currency), our request id, its ids and seat. Its `nurl`,
/// `burl` and markup stay the bidder's own, so its win and billing notices reach it directly.
fn write_external_bid(
    out: &mut Vec<u8>,
    request: &AdRequest,
    winner: &Winner,
    bid: &ExternalBid,
    context: &ResponseContext<'_>,
    scratch: &mut String,
) {
    // `${AUCTION_PRICE}` is in the bidder's currency. Validation admitted only bids in a
    // currency with a rate, so the conversion holds; if it did not, the price stays in ours
    // and `${AUCTION_CURRENCY}` says so.
    let mut values = bid.macro_values(&request.id, winner.price_micros);
    match context
        .currencies
        .convert(winner.price_micros, context.currency, bid.bid_currency)
    {
        Some(price_micros) => values.price_micros = price_micros,
        None => values.currency = context.currency,
    }
    out.extend_from_slice(b"{\"id\":");
    write_json_string(out, &bid.bid_id);
    out.extend_from_slice(b",\"impid\":");
    write_json_string(out, &bid.imp_id);
    out.extend_from_slice(b",\"price\":");
    write_micros(out, winner.price_micros);
    if !bid.adid.is_empty() {
        out.extend_from_slice(b",\"adid\":");
        write_json_string(out, &bid.adid);
    }
    out.extend_from_slice(b",\"crid\":");
    write_json_string(
        out,
        if bid.crid.is_empty() {
            &bid.bid_id
        } else {
            &bid.crid
        },
    );
    if !bid.adomain.is_empty() {
        out.extend_from_slice(b",\"adomain\":[");
        write_json_string(out, &bid.adomain);
        out.push(b']');
    }
    write_string_array(out, b",\"cat\":", bid.categories());
    if !bid.deal_id.is_empty() {
        out.extend_from_slice(b",\"dealid\":");
        write_json_string(out, &bid.deal_id);
    }
    if bid.w > 0 && bid.h > 0 {
        write_size(out, bid.w, bid.h);
    }
    if bid.mtype > 0 {
        out.extend_from_slice(b",\"mtype\":");
        write_decimal(out, u64::from(bid.mtype));
    }
    for (key, template) in [
        (&b",\"nurl\":"[..], &bid.nurl),
        (&b",\"burl\":"[..], &bid.burl),
        (&b",\"adm\":"[..], &bid.adm),
    ] {
        if template.is_empty() {
            continue;
        }
        scratch.clear();
        substitute_macros(template, &values, scratch);
        out.extend_from_slice(key);
        write_json_string(out, scratch);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_print_as_decimals() {
        for (micros, text) in [
            (0, "0"),
            (30_000, "0.03"),
            (1_500_000, "1.5"),
            (2_000_000, "2"),
            (1, "0.000001"),
            (-250_000, "-0.25"),
        ] {
            let mut out = Vec::new();
            write_micros(&mut out, micros);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    /// A bid's tokens, and the text of its pixel's and its click's.
    fn tokens() -> (BidTokens, String, String) {
        let signer = crate::tracking::TokenSigner::new(&[3; 32]).expect("secret");
        let claims = crate::tracking::TrackingClaims {
            request_id: "r",
            imp_id: "1",
            buyer_kind: crate::tracking::BuyerKind::Campaign,
            buyer_id: "c",
            creative_id: "cr",
            price_micros: 1,
            currency: Currency::USD,
            issued_unix_s: 0,
            shard_idx: 0,
            user_key: 0,
            sequence: 0,
        };
        let mut tokens = BidTokens::new();
        signer.sign(&claims, &mut tokens).expect("valid claims");
        let (mut pixel, mut click) = (String::new(), String::new());
        tokens.push(EventKind::Impression, &mut pixel);
        tokens.push(EventKind::Click, &mut click);
        assert_ne!(pixel, click);
        (tokens, pixel, click)
    }

    #[test]
    fn notice_urls_carry_their_kind_token_and_macro_escaped_or_not() {
        let (tokens, _, _) = tokens();
        let token = |kind| {
            let mut text = String::new();
            tokens.push(kind, &mut text);
            text
        };
        for public_url in ["http://ads.test", "http://ads.test/\"q\"\\"] {
            let mut out = b"{\"id\":1".to_vec();
            let mut url = String::new();
            write_notice_urls(
                &mut out,
                public_url,
                json_safe(public_url),
                &tokens,
                &mut url,
            );
            out.push(b'}');
            let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            for (key, kind, suffix) in [
                ("nurl", EventKind::Win, "&p=${AUCTION_PRICE}"),
                ("burl", EventKind::Billing, "&p=${AUCTION_PRICE}"),
                ("lurl", EventKind::Loss, "&reason=${AUCTION_LOSS}"),
            ] {
                let want = format!("{public_url}{}?t={}{suffix}", kind.path(), token(kind));
                assert_eq!(
                    json[key].as_str(),
                    Some(want.as_str()),
                    "{key} at {public_url}"
                );
            }
        }
    }

    fn creative(format: CreativeFormat, markup: &str) -> Creative {
        crate::campaign::CreativeBuilder::banner("cr", 300, 250)
            .format(format)
            .markup(markup)
            .landing_page("https://brand.example/landing")
            .secure(true)
            .build()
    }

    #[test]
    fn banner_markup_gets_click_redirect_and_pixel() {
        let mut adm = String::new();
        let banner = creative(
            CreativeFormat::Banner,
            r#"<a href="https://brand.example/landing"><img src="x.png"></a>"#,
        );
        let (tokens, pixel, click) = tokens();
        build_markup(&banner, "http://ads.test", &tokens, &mut adm);
        assert_eq!(
            adm,
            format!(
                r#"<a href="http://ads.test/click?t={click}"><img src="x.png"></a><img src="http://ads.test/imp?t={pixel}" width="1" height="1" style="display:none" alt="">"#
            )
        );
    }

    #[test]
    fn template_writes_what_build_markup_and_escaping_write() {
        let mut banner = creative(
            CreativeFormat::Banner,
            "<a href=\"https://brand.example/landing\">\"q\" \\ \u{1}</a>",
        );
        banner.landing_page = "https://brand.example/landing".into();
        let video = creative(
            CreativeFormat::Video,
            "<VAST><Ad><InLine x=\"1\"><ClickThrough>https://brand.example/landing</ClickThrough></InLine></Ad></VAST>",
        );
        let (tokens, _, _) = tokens();
        for creative in [banner, video] {
            let mut adm = String::new();
            build_markup(&creative, "http://ads.test", &tokens, &mut adm);
            let mut expected = Vec::new();
            write_json_string(&mut expected, &adm);
            let mut got = Vec::new();
            MarkupTemplate::build(&creative).write_json(&mut got, "http://ads.test", &tokens);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn html_escaped_landing_page_is_redirected_too() {
        let mut adm = String::new();
        let mut banner = creative(
            CreativeFormat::Banner,
            r#"<a href="https://b.example/?a=1&amp;b=2">x</a>"#,
        );
        banner.landing_page = "https://b.example/?a=1&b=2".into();
        let (tokens, _, click) = tokens();
        build_markup(&banner, "http://ads.test", &tokens, &mut adm);
        assert!(
            adm.starts_with(&format!(
                r#"<a href="http://ads.test/click?t={click}">x</a>"#
            )),
            "{adm}"
        );
    }

    #[test]
    fn vast_markup_gets_impression_element() {
        let mut adm = String::new();
        let video = creative(
            CreativeFormat::Video,
            "<VAST version=\"4.0\"><Ad><InLine><AdSystem>a</AdSystem><ClickThrough>https://brand.example/landing</ClickThrough></InLine></Ad></VAST>",
        );
        let (tokens, pixel, click) = tokens();
        build_markup(&video, "http://ads.test", &tokens, &mut adm);
        assert!(
            adm.contains(&format!(
                "<InLine><Impression><![CDATA[http://ads.test/imp?t={pixel}]]></Impression><AdSystem>"
            )),
            "{adm}"
        );
        assert!(
            adm.contains(&format!(
                "<ClickThrough>http://ads.test/click?t={click}</ClickThrough>"
            )),
            "{adm}"
        );
    }
}
