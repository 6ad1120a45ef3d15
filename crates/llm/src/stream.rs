//! What a streaming call yields: [`StreamEvent`]s from a [`ModelStream`], and the assembled
//! assistant message, complete ([`ModelStream::collect`]) or as far as it got
//! ([`ModelStream::partial`]).

use crate::assemble::{Assembler, Completion, Flow, StreamEvent};
use crate::types::{FinishReason, Message, Usage};
use crate::{ApiKey, Error, anthropic, openai, sse};
use std::time::Duration;

/// The wire format's decoder of a stream.
#[derive(Debug)]
pub(crate) enum Decoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
}

impl Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Assembler) -> Result<Flow, Error> {
        match self {
            Decoder::OpenAi(d) => d.event(event, out),
            Decoder::Anthropic(d) => d.event(event, out),
        }
    }

    fn end_of_body(&mut self, out: &mut Assembler) -> Result<(), Error> {
        match self {
            Decoder::OpenAi(d) => d.end_of_body(out),
            Decoder::Anthropic(d) => d.end_of_body(out),
        }
    }
}

/// A model's answer as it streams. Pull events with [`ModelStream::next`] (or everything
/// with [`ModelStream::collect`]); after an error, [`ModelStream::partial`] still holds
/// what arrived before it.
///
/// `next` is cancel-safe (a `tokio::select!` on it loses nothing), and dropping the stream
/// closes the connection, which stops the generation at the server: that is how a turn is
/// cancelled.
#[derive(Debug)]
pub struct ModelStream {
    response: reqwest::Response,
    decoder: Decoder,
    parser: sse::Parser,
    assembler: Assembler,
    stall: Duration,
    key: Option<ApiKey>,
    state: State,
    /// The error that ended the stream, delivered after the events before it.
    error: Option<Error>,
    /// Whose call this is and when it started, for [`crate::stats`]; taken when counted.
    counted: Option<(crate::spec::ProviderKind, std::time::Instant)>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Streaming,
    Done,
    Failed,
}

impl ModelStream {
    pub(crate) fn new(
        response: reqwest::Response,
        decoder: Decoder,
        stall: Duration,
        key: Option<ApiKey>,
    ) -> Self {
        Self {
            response,
            decoder,
            parser: sse::Parser::default(),
            assembler: Assembler::default(),
            stall,
            key,
            state: State::Streaming,
            error: None,
            counted: None,
        }
    }

    /// Counts this call in [`crate::stats`] when its stream ends.
    pub(crate) fn counted(
        mut self,
        provider: crate::spec::ProviderKind,
        started: std::time::Instant,
    ) -> Self {
        self.counted = Some((provider, started));
        self
    }

    /// The next event; `None` after `Finished` or after an error. Events decoded before an
    /// error come before it.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        loop {
            if let Some(event) = self.assembler.events.pop_front() {
                return Some(Ok(event));
            }
            if let Some(error) = self.error.take() {
                return Some(Err(error));
            }
            if self.state != State::Streaming {
                return None;
            }
            if let Err(e) = self.pump().await {
                self.state = State::Failed;
                self.error = Some(e.redacted(self.key.as_ref()));
            }
            if self.state != State::Streaming
                && let Some((provider, started)) = self.counted.take()
            {
                crate::stats::record(
                    provider,
                    started.elapsed(),
                    self.assembler.usage,
                    self.state == State::Done,
                );
            }
        }
    }

    /// Reads until events are queued or the answer is complete.
    async fn pump(&mut self) -> Result<(), Error> {
        let chunk = match tokio::time::timeout(self.stall, self.response.chunk()).await {
            Err(_) => return Err(Error::Stall { after: self.stall }),
            Ok(Err(e)) => {
                return Err(Error::Read {
                    reason: crate::config::describe(&e, self.key.as_ref()),
                });
            }
            Ok(Ok(chunk)) => chunk,
        };
        let mut events = Vec::new();
        match &chunk {
            Some(bytes) => self.parser.feed(bytes, &mut events)?,
            None => self.parser.finish(&mut events),
        }
        for event in events {
            if self.decoder.event(event, &mut self.assembler)? == Flow::Done {
                self.assembler.complete();
                self.state = State::Done;
                return Ok(());
            }
        }
        if chunk.is_none() {
            self.decoder.end_of_body(&mut self.assembler)?;
            self.assembler.complete();
            self.state = State::Done;
        }
        Ok(())
    }

    /// Reads the whole answer. On error, [`ModelStream::partial`] holds what had arrived.
    pub async fn collect(&mut self) -> Result<Completion, Error> {
        while let Some(event) = self.next().await {
            event?;
        }
        if self.state != State::Done {
            return Err(Error::Truncated {
                reason: "the stream was already consumed after an error".into(),
            });
        }
        Ok(Completion {
            message: self.assembler.message(),
            usage: self.assembler.usage,
            finish: self
                .assembler
                .finish_reason()
                .cloned()
                .unwrap_or(FinishReason::Stop),
        })
    }

    /// The assistant message as far as it streamed: all text received and the tool calls
    /// that were complete. A call still receiving arguments is left out, since it cannot
    /// be run.
    pub fn partial(&self) -> Message {
        self.assembler.message()
    }

    /// Usage reported so far, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.assembler.usage
    }
}
