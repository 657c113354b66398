//! The messages of `GET /_flux/api/tail` (a websocket), one JSON text message each.

use serde::{Deserialize, Serialize};

use crate::record::TailEvent;

/// One tail message. On the wire the kinds are told apart by their keys, as they always were:
/// an event has `seq` and `record`, the others `missed`, `end` or `error`. The server sends
/// `TailMessage<&TailEvent>` (an event is shared by every client), the client reads
/// `TailMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TailMessage<E = TailEvent> {
    /// A committed execution.
    Event(E),
    /// This client fell behind and `missed` executions were not sent to it.
    Missed { missed: u64 },
    /// The history is over, and the server is not following (`follow=0`).
    End { end: bool },
    /// The server cannot go on (it could not read the history).
    Error { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_message_reads_back_as_its_kind() {
        let messages: [(TailMessage, _); 3] = [
            (TailMessage::Missed { missed: 3 }, json!({ "missed": 3 })),
            (TailMessage::End { end: true }, json!({ "end": true })),
            (
                TailMessage::Error {
                    error: "cannot read the history".into(),
                },
                json!({ "error": "cannot read the history" }),
            ),
        ];
        for (message, wire) in messages {
            assert_eq!(serde_json::to_value(&message).expect("serialize"), wire);
            assert_eq!(
                serde_json::from_value::<TailMessage>(wire).expect("deserialize"),
                message
            );
        }
        let event = json!({
            "seq": 7,
            "record": {
                "id": "d5e6f7a8000000000000000000000001", "kind": "job", "function": "f",
                "status": "error", "started_at_us": 1, "duration_us": 2,
            },
            "next": { "kind": "dead" },
        });
        let Ok(TailMessage::Event(read)) = serde_json::from_value::<TailMessage>(event.clone())
        else {
            panic!("not an event");
        };
        assert_eq!(read.seq, 7);
        let sent: TailMessage<&TailEvent> = TailMessage::Event(&read);
        assert_eq!(serde_json::to_value(sent).expect("serialize"), event);
    }
}
