//! Pages whose features are not built yet. They say so plainly instead of showing made-up
//! data.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ReleasesPage() -> impl IntoView {
    view! {
        <Title text="Releases" />
        <h1>"Releases"</h1>
        <section class="notice">
            <p>
                "No release target is configured on this control plane yet, so there is nothing to deploy, roll back or hold."
            </p>
        </section>
    }
}
