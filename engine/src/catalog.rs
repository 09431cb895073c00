//! A shard's own copy of the campaigns: the model in bid order, the targeting index over it,
//! and the maps tracking and statistics need.
//!
//! Built by each shard from the one immutable `CampaignData` load, so no shard reads another
//! shard's memory on the request path; a reload builds a new catalog and swaps it whole (the
//! `Rc` in the shard), so a request sees one consistent catalog from start to end.

use std::ops::ControlFlow;

use hashbrown::HashMap;

use crate::adrequest::{AdRequest, Imp};
use crate::auction::response::MarkupTemplate;
use crate::auction::CampaignSource;
use crate::campaign::{Campaign, CampaignData, CampaignStatus, Creative};
use crate::currency::CurrencyTable;
use crate::targeting::{creative_fits, IndexScratch, TargetingIndex};

/// The campaigns of one shard, in bid order: highest bid in the base currency first, ties by
/// campaign id, so the auction's tie-break is deterministic.
#[derive(Debug)]
pub struct Catalog {
    campaigns: Vec<Campaign>,
    by_id: HashMap<String, u32>,
    index: TargetingIndex,
    /// Pre-escaped markup of every creative: `templates[creative_starts[c] + k]` is creative
    /// `k` of campaign `c`.
    templates: Vec<MarkupTemplate>,
    creative_starts: Vec<u32>,
    /// Per-lookup scratch of the index; the catalog is used by one request at a time.
    scratch: std::cell::RefCell<IndexScratch>,
}

impl Catalog {
    /// Builds the catalog. Campaigns whose currency has no rate cannot be ordered against the
    /// others and are left out (check-config reports them).
    pub fn build(data: &CampaignData, currencies: &CurrencyTable) -> Catalog {
        let mut ranked: Vec<(i64, &Campaign)> = data
            .campaigns
            .iter()
            .filter(|c| c.status == CampaignStatus::Active)
            .filter_map(|c| Some((currencies.to_base(c.bid_cpm_micros, c.currency)?, c)))
            .collect();
        ranked.sort_by(|(bid_a, a), (bid_b, b)| bid_b.cmp(bid_a).then_with(|| a.id.cmp(&b.id)));
        let campaigns: Vec<Campaign> = ranked.into_iter().map(|(_, c)| c.clone()).collect();
        let by_id = campaigns
            .iter()
            .enumerate()
            .map(|(idx, c)| (c.id.clone(), idx as u32))
            .collect();
        let index = TargetingIndex::build(&campaigns);
        let mut templates = Vec::new();
        let mut creative_starts = Vec::with_capacity(campaigns.len() + 1);
        for campaign in &campaigns {
            creative_starts.push(templates.len() as u32);
            templates.extend(campaign.creatives.iter().map(MarkupTemplate::build));
        }
        creative_starts.push(templates.len() as u32);
        Catalog {
            campaigns,
            by_id,
            index,
            templates,
            creative_starts,
            scratch: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.campaigns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
    }

    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    pub fn campaign_idx(&self, campaign_id: &str) -> Option<u32> {
        self.by_id.get(campaign_id).copied()
    }

    pub fn index_memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }
}

impl CampaignSource for Catalog {
    fn campaign(&self, campaign_idx: u32) -> &Campaign {
        &self.campaigns[campaign_idx as usize]
    }

    fn for_each_candidate(
        &self,
        request: &AdRequest,
        imp: &Imp,
        now_unix_s: i64,
        visit: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) {
        let Ok(mut scratch) = self.scratch.try_borrow_mut() else {
            debug_assert!(false, "catalog scratch borrowed twice");
            return;
        };
        self.index
            .for_each_match(request, imp, now_unix_s, &mut scratch, visit);
    }

    fn creative_fits(&self, creative: &Creative, request: &AdRequest, imp: &Imp) -> bool {
        creative_fits(creative, request, imp)
    }

    fn markup_template(&self, campaign_idx: u32, creative_idx: usize) -> Option<&MarkupTemplate> {
        let start = *self.creative_starts.get(campaign_idx as usize)? as usize;
        let end = *self.creative_starts.get(campaign_idx as usize + 1)? as usize;
        self.templates.get(start..end)?.get(creative_idx)
    }
}
