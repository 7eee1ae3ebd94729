//! Machine names: how a domain enum is written wherever it crosses a boundary (the API,
//! SQLite, History, URLs, forms). [`machine_names!`] says each enum's names once and gives
//! it `ALL`, `as_str`, `FromStr`, `Display` and serde from that one list.

/// A name no case of an enum has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{raw:?} is no {what}: use {}", known.join(", "))]
pub struct UnknownName {
    /// What was expected, in words: "release status".
    pub what: &'static str,
    /// The name given (at most 40 characters of it).
    pub raw: String,
    pub known: Vec<&'static str>,
}

/// The OpenAPI schema of a machine name: a string, one of `names`.
pub fn string_enum_schema(
    what: &str,
    names: impl IntoIterator<Item = &'static str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!("A {what}.")))
        .enum_values(Some(names))
        .into()
}

/// `machine_names!("release kind", ReleaseKind { Deploy => "deploy", … })`.
macro_rules! machine_names {
    ($what:literal, $ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every case, in the order of the list of names.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The machine name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::domain::names::UnknownName;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                match raw {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::domain::names::UnknownName {
                        what: $what,
                        raw: raw.chars().take(40).collect(),
                        known: vec![$($name),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::domain::names::string_enum_schema($what, [$($name),+])
            }
        }

        impl ::utoipa::ToSchema for $ty {}

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                raw.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use machine_names;

/// A plain name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`, starting with a letter
/// or digit — safe in a URL path segment, a file name and a log line.
pub fn is_plain_name(name: &str) -> bool {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name.chars().all(valid_char)
}

/// `checked_text!(WorkItemId, WorkItemError)`: the conversions of a text newtype whose
/// `parse` checks it. Serde reads it through `parse` (`try_from = "String"`), and it
/// shows as its text.
macro_rules! checked_text {
    ($ty:ident, $error:ty) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $error;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use checked_text;

#[cfg(test)]
mod tests {
    use super::UnknownName;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
        DarkBlue,
    }
    machine_names!("colour", Colour { Red => "red", DarkBlue => "dark-blue" });

    #[test]
    fn names_round_trip_through_text_and_json() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(colour));
            assert_eq!(colour.to_string(), colour.as_str());
            let json = serde_json::to_string(&colour).unwrap();
            assert_eq!(json, format!("\"{}\"", colour.as_str()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), colour);
        }
    }

    #[test]
    fn an_unknown_name_says_the_known_ones() {
        let err = "Dark-Blue".parse::<Colour>().unwrap_err();
        assert_eq!(
            err,
            UnknownName {
                what: "colour",
                raw: "Dark-Blue".into(),
                known: vec!["red", "dark-blue"],
            }
        );
        assert_eq!(err.to_string(), "\"Dark-Blue\" is no colour: use red, dark-blue");
        assert!(serde_json::from_str::<Colour>("\"green\"").is_err());
    }
}
