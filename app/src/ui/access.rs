//! `/access` — for admins: who may do what on each target, by the rule the gates use.

use super::login::current_operator;
use super::{NotFound, Title, app_state, storage_failure};
use crate::domain::Permission;
use crate::releases::{self, TargetAccess};
use leptos::prelude::*;

/// `/access`, for admins.
pub(super) async fn page() -> AnyView {
    let admin = current_operator().is_some_and(|o| o.can(Permission::OperatorsManage));
    if !admin {
        let what = "Who may do what is for admins: ask an admin for the admin role.";
        return view! { <NotFound what /> }.into_any();
    }
    let access = match releases::who_may(&app_state()).await {
        Ok(access) => access,
        Err(err) => return storage_failure(err),
    };
    let none = access.is_empty().then(|| {
        view! { <p class="muted">"No deploy target is configured."</p> }
    });
    let targets = access.into_iter().map(|target| view! { <TargetRights target /> }).collect_view();
    view! {
        <Title text="Who may do what" />
        <h1>"Who may do what"</h1>
        <p>
            "Each right on each target, and the users and API tokens that hold it now. A right a target lists in [targets.rights] is given to those it names; any other stays with the role (operators and admins). Users are managed with factory user, tokens with factory token."
        </p>
        {none}
        {targets}
    }
    .into_any()
}

#[component]
fn TargetRights(target: TargetAccess) -> impl IntoView {
    let heading_id = format!("access-{}", target.target);
    let labelled = heading_id.clone();
    let rights = target
        .rights
        .into_iter()
        .map(|right| {
            let how = if right.narrowed { "given by the target" } else { "role-wide" };
            let who = if right.holders.is_empty() {
                "nobody".to_owned()
            } else {
                right.holders.join(", ")
            };
            view! {
                <div class="fact">
                    <dt>{right.right.as_str()} <span class="muted">{format!(" ({how})")}</span></dt>
                    <dd>{who}</dd>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="target" aria-labelledby=labelled>
            <h2 id=heading_id>{target.target}</h2>
            <dl class="facts-list">{rights}</dl>
        </section>
    }
}
