// Allure 3 configuration for Vigil's results (`--alluredir`): the tree groups checks by
// environment > system > runbook entry (the labels Vigil sets), and failures fall in three
// categories by the `failure` label Vigil sets on each failed check.
//
//   .tools/node_modules/.bin/allure generate allure-results -o allure-report --config deploy/allurerc.mjs
export default {
  name: "Vigil readiness",
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportLanguage: "en",
        groupBy: ["parentSuite", "suite", "subSuite"],
      },
    },
  },
  categories: {
    rules: [
      {
        id: "target-unreachable",
        name: "Target unreachable",
        matchers: { labels: { failure: "^target unreachable$" } },
      },
      {
        id: "symptom-present",
        name: "Symptom present",
        matchers: { labels: { failure: "^symptom present$" } },
      },
      {
        id: "could-not-evaluate",
        name: "Could not evaluate",
        matchers: [{ labels: { failure: "^not evaluated$" } }, { statuses: ["broken", "skipped"] }],
      },
    ],
  },
};
