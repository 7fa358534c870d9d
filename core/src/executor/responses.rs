//! How the WebSocket layer takes a subscription's frames: without waiting, awaiting, or
//! blocking with a timeout, or through the subscription's [`ResponseQueue`] itself.

use std::time::Duration;

use bytes::Bytes;

use super::*;

impl SubscriptionExecutor {
    /// Take the next frame of a subscription without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// assert_eq!(executor.next_response(key)?, None);
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn next_response(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        Ok(self.subscription(key)?.queue.try_next())
    }

    /// The response queue of a subscription, for a WebSocket task to drain directly.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// let queue = executor.response_queue(key)?;
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert_eq!(queue.len(), 1);
    /// assert!(queue.try_next().is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn response_queue(&self, key: SubscriptionKey) -> Result<Arc<ResponseQueue>> {
        Ok(self.subscription(key)?.queue.clone())
    }

    /// Wait, on any executor, for the next frame; `None` once the subscription has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert!(futures_lite::future::block_on(executor.recv(key))?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub async fn recv(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        let queue = self.response_queue(key)?;
        Ok(queue.recv().await)
    }

    /// Block this thread for the next frame; `None` once the subscription has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// use std::time::Duration;
    ///
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert!(executor.recv_timeout(key, Duration::from_secs(5))?.is_some());
    /// assert!(executor.recv_timeout(key, Duration::ZERO).is_err());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn recv_timeout(&self, key: SubscriptionKey, timeout: Duration) -> Result<Option<Bytes>> {
        match self.response_queue(key)?.recv_timeout(timeout) {
            Ok(frame) => Ok(Some(frame)),
            Err(RecvTimeoutError::Closed) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
        }
    }
}
