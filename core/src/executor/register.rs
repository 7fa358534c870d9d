//! Admission: authentication, scope and RBAC (filter paths included), limits, and the
//! cohort a new subscription joins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::registry::{write, Cohort, Member, Registry, Subscription};
use super::request::{SubscriptionKey, SubscriptionRequest};
use super::watch::ChannelChange;
use super::{SubscriptionExecutor, MAX_ID_LEN};
use crate::document::SubscriptionDocument;
use crate::error::{Error, Result};
use crate::event::validate_channel;
use crate::frame::FramePrefix;
use crate::queue::ResponseQueue;
use crate::rate_limit::{Principal, RateLimitKind};
use crate::resolve::Resolver;
use crate::security::{EventFilter, Policy, SecurityContext, SubscriptionAccess};

impl SubscriptionExecutor {
    /// Register a subscription; its frames queue from the next dispatch on.
    ///
    /// Fails on an invalid document, variables, id, channel or filter; a subscription id
    /// already registered on the same connection; a missing security context (unless
    /// anonymous subscribers are allowed); a scope or RBAC refusal; a rate or subscription
    /// limit. [`Error::to_error_frame`] turns any of these into the `error` frame the
    /// client gets.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{Error, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// assert!(executor.register_subscription(request).is_ok());
    /// // Without a security context, the subscribe is refused with a typed error.
    /// let anonymous = SubscriptionRequest::new("conn-2", "1", "subscription { ticks }");
    /// assert!(matches!(executor.register_subscription(anonymous), Err(Error::Unauthenticated)));
    /// ```
    pub fn register_subscription(&self, request: SubscriptionRequest) -> Result<SubscriptionKey> {
        validate_id("connection id", &request.connection_id)?;
        validate_id("subscription id", &request.subscription_id)?;
        let metrics = &self.shared.metrics;
        let context = request.context.as_ref();
        let authenticated = match context {
            Some(context) => context.validate(),
            None if self.config.allow_anonymous => Ok(()),
            None => Err(Error::Unauthenticated),
        };
        if let Err(error) = authenticated {
            metrics.record_violation(Policy::Authentication, 1);
            return Err(error);
        }
        if let Some(filter) = &request.filter {
            filter.validate()?;
        }
        let principal = match context {
            Some(context) => Principal::User(context.user_arc().clone()),
            None => Principal::Connection(request.connection_id.as_str().into()),
        };
        if let Err(retry_after) = self.shared.limiter.try_create(&principal) {
            metrics.record_rate_limited(RateLimitKind::SubscriptionCreation, 1);
            return Err(Error::RateLimited {
                kind: RateLimitKind::SubscriptionCreation,
                retry_after,
            });
        }
        let explicit_channels = request.channels.as_deref().map(normalize_channels).transpose()?;
        let resolver = request
            .resolver
            .clone()
            .unwrap_or_else(|| self.projection.clone());
        let cohort_key = cohort_key(&request, &resolver, explicit_channels.as_deref());

        let existing = {
            let registry = self.registry();
            ensure_unique(&registry, &request)?;
            registry.cohorts.get(cohort_key.as_str()).cloned()
        };
        // Parsing happens outside the lock; a cohort already built for the same key
        // carries an identical document and variables, so the parse is skipped.
        let joins_existing = existing.is_some();
        let template = match existing {
            Some(cohort) => cohort,
            None => Arc::new(self.build_cohort(&request, resolver, explicit_channels, cohort_key)?),
        };
        self.authorize(context, &template, joins_existing)?;
        let buckets = self.shared.limiter.delivery_buckets(&principal);

        let mut registry = self.registry_mut();
        ensure_unique(&registry, &request)?;
        self.check_subscription_limits(&registry, &request)?;
        let registry = &mut *registry;
        let mut announced = Vec::new();
        let cohort = match registry.cohorts.get(&template.key) {
            Some(cohort) => cohort.clone(),
            None => {
                registry.cohorts.insert(template.key.clone(), template.clone());
                for channel in template.channels.iter() {
                    let cohorts = registry.channels.entry(channel.clone()).or_default();
                    cohorts.push(template.clone());
                    if cohorts.len() == 1 {
                        announced.push(ChannelChange::Added(channel.to_string()));
                    }
                }
                template
            }
        };

        let key = SubscriptionKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let connection_id: Arc<str> = registry
            .connections
            .get_key_value(request.connection_id.as_str())
            .map_or_else(|| Arc::from(request.connection_id.as_str()), |(k, _)| k.clone());
        let user = context.map(|c| c.user_arc().clone());
        if let Some(user) = &user {
            *registry.users.entry(user.clone()).or_default() += 1;
        }
        let prefix = FramePrefix::new(&request.subscription_id);
        let subscription = Arc::new(Subscription {
            key,
            connection_id: connection_id.clone(),
            subscription_id: request.subscription_id.as_str().into(),
            cohort: cohort.clone(),
            slot: AtomicUsize::new(0),
            queue: Arc::new(
                ResponseQueue::new(prefix, self.config.queue_capacity, self.config.overflow)
                    .with_max_bytes(self.config.queue_max_bytes),
            ),
            user,
            buckets,
            missed: AtomicU64::new(0),
        });
        {
            let mut members = write(&cohort.members);
            subscription.slot.store(members.len(), Ordering::Relaxed);
            members.push(Member::new(&subscription));
        }
        registry
            .connections
            .entry(connection_id)
            .or_default()
            .insert(request.subscription_id.into_boxed_str(), key);
        registry.subscriptions.insert(key, subscription);
        metrics.subscription_added();
        for change in announced {
            registry.announce(change);
        }
        Ok(key)
    }

    /// Scope validation, then RBAC field access on everything the subscription reads
    /// (selection, filter paths, owner and federation paths, re-rooted at each channel),
    /// counted in the metrics.
    ///
    /// RBAC depends on the roles, document, channels and event filter, and on the
    /// executor's fixed policies; all of these are in the cohort key, so every member of an
    /// existing cohort got the same RBAC answer: only a new cohort is checked again.
    fn authorize(
        &self,
        context: Option<&SecurityContext>,
        cohort: &Cohort,
        joins_existing: bool,
    ) -> Result<()> {
        let policies = &self.config.security;
        let metrics = &self.shared.metrics;
        let mut access = SubscriptionAccess::new(&cohort.document, &cohort.variables)
            .channels(cohort.channels.iter().map(|c| &**c));
        if let Some(filter) = &cohort.filter {
            access = access.filter(filter);
        }
        if let Err(error) = policies.check_scope(context, &access) {
            metrics.record_violation(Policy::Scope, 1);
            return Err(error);
        }
        if !joins_existing {
            let rbac = policies
                .check_rbac(context, &access)
                .and_then(|()| policies.rbac.check_coordinates(context, &cohort.coordinates));
            if let Err(error) = rbac {
                metrics.record_violation(Policy::Rbac, 1);
                return Err(error);
            }
        }
        metrics.record_passed(1);
        Ok(())
    }

    fn check_subscription_limits(&self, registry: &Registry, request: &SubscriptionRequest) -> Result<()> {
        let limits = &self.config.rate_limits;
        if let Some(limit) = limits.max_subscriptions_per_connection {
            let held = registry
                .connections
                .get(request.connection_id.as_str())
                .map_or(0, HashMap::len);
            if held >= limit {
                return Err(self.limit_reached(RateLimitKind::ConnectionSubscriptions, limit));
            }
        }
        if let (Some(limit), Some(context)) = (limits.max_subscriptions_per_user, &request.context) {
            let held = registry.users.get(context.user_id()).copied().unwrap_or(0);
            if held >= limit {
                return Err(self.limit_reached(RateLimitKind::UserSubscriptions, limit));
            }
        }
        Ok(())
    }

    fn limit_reached(&self, kind: RateLimitKind, limit: usize) -> Error {
        self.shared.metrics.record_rate_limited(kind, 1);
        Error::SubscriptionLimit { kind, limit }
    }

    fn build_cohort(
        &self,
        request: &SubscriptionRequest,
        resolver: Arc<dyn Resolver>,
        explicit_channels: Option<Vec<Arc<str>>>,
        key: String,
    ) -> Result<Cohort> {
        let mut document = SubscriptionDocument::parse(
            &request.query,
            request.operation_name.as_deref(),
            &self.config.document_limits,
        )?;
        // With a schema, its coercion replaces the structural one, and it names the channel.
        let (variables, schema_channel, coordinates) = match &self.config.schema {
            Some(schema) => {
                let checked = schema.check(&document, &request.variables)?;
                document.set_executable(checked.executable);
                (checked.variables, Some(checked.channel), checked.coordinates)
            }
            None => (
                document.effective_variables(&request.variables)?,
                None,
                Vec::new(),
            ),
        };
        let channels = match (explicit_channels, schema_channel) {
            (Some(channels), _) => channels,
            (None, Some(channel)) => vec![channel],
            (None, None) => {
                validate_channel(document.root_field())?;
                vec![Arc::from(document.root_field())]
            }
        };
        let context = request.context.as_ref();
        let resolver_reads_context = resolver.depends_on_context();
        Ok(Cohort {
            key: key.into(),
            document: Arc::new(document),
            variables,
            resolver,
            channels: channels.into_boxed_slice(),
            members: RwLock::default(),
            tenant: context.and_then(|c| c.tenant_arc().cloned()),
            federation: context.and_then(|c| c.federation_arc().cloned()),
            filter: request.filter.clone().filter(|f| !f.is_empty()),
            context: context.filter(|_| resolver_reads_context).cloned(),
            coordinates: coordinates.into_boxed_slice(),
        })
    }
}

fn ensure_unique(registry: &Registry, request: &SubscriptionRequest) -> Result<()> {
    let taken = registry
        .connections
        .get(request.connection_id.as_str())
        .is_some_and(|ids| ids.contains_key(request.subscription_id.as_str()));
    if taken {
        return Err(Error::DuplicateSubscription {
            connection_id: request.connection_id.clone(),
            subscription_id: request.subscription_id.clone(),
        });
    }
    Ok(())
}

fn validate_id(what: &'static str, id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "empty".to_owned()
    } else if id.len() > MAX_ID_LEN {
        format!("{} bytes, over the limit of {MAX_ID_LEN}", id.len())
    } else {
        return Ok(());
    };
    Err(Error::InvalidId { what, reason })
}

fn normalize_channels(channels: &[String]) -> Result<Vec<Arc<str>>> {
    if channels.is_empty() {
        return Err(Error::InvalidChannel {
            channel: String::new(),
            reason: "an explicit channel list must name at least one channel",
        });
    }
    let mut unique: Vec<Arc<str>> = Vec::with_capacity(channels.len());
    for channel in channels {
        validate_channel(channel)?;
        if !unique.iter().any(|c| **c == **channel) {
            unique.push(channel.as_str().into());
        }
    }
    unique.sort_unstable();
    Ok(unique)
}

/// Everything that can change a subscription's frame bytes or the per-event security
/// decisions of its cohort (the security class: tenant, federation, roles, event filter),
/// as one unambiguous string. The user is left out: the row filter is checked per member.
fn cohort_key(
    request: &SubscriptionRequest,
    resolver: &Arc<dyn Resolver>,
    channels: Option<&[Arc<str>]>,
) -> String {
    let resolver_id = Arc::as_ptr(resolver) as *const () as usize;
    let channels: Option<Vec<&str>> = channels.map(|c| c.iter().map(|s| &**s).collect());
    let context = request.context.as_ref();
    let class = (
        context.and_then(SecurityContext::tenant_id),
        context.and_then(SecurityContext::federation_id),
        context.map(SecurityContext::roles),
        request
            .filter
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(EventFilter::canonical_json),
    );
    // A resolver that reads the context makes frames per subscriber: the whole context is
    // part of the key, so no frame crosses users.
    let subscriber = context
        .filter(|_| resolver.depends_on_context())
        .map(|c| (c.user_id(), c.scopes(), c.claims()));
    let parts = (
        resolver_id,
        &request.operation_name,
        channels,
        &request.variables,
        &request.query,
        class,
        subscriber,
    );
    // Strings, numbers and JSON values always serialize; an empty key would merge
    // unrelated subscribers, so failing loudly is the only safe answer.
    serde_json::to_string(&parts).expect("cohort key parts serialize")
}
