#!/usr/bin/perl

# A real browser: examples/job-status.html, served from one origin, polls
# the gateway's JSON endpoint on another with fetch(), and shows each job's
# state as it changes.  Nothing the browser receives holds a secret or an
# Authorization header.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my ($chromium) = grep { -x } qw(/usr/bin/chromium /usr/bin/chromium-browser);
CiJobsTest::require_prerequisite($chromium,
    'no chromium (make deps installs it)');

my $page_port = CiJobsTest::free_port();
my $examples = "$CiJobsTest::ROOT/examples";

my $t = CiJobsTest->new(http => <<"EOF");
    server {
        listen 127.0.0.1:$page_port;
        root $examples;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            if (\$request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port";
                add_header Access-Control-Allow-Methods "GET";
                add_header Access-Control-Allow-Headers "Accept";
                return 204;
            }

            add_header Access-Control-Allow-Origin "http://127.0.0.1:$page_port" always;

            ci_jobs on;
            ci_jobs_json on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $gateway = 'http://127.0.0.1:' . $t->port . '/ci/';
my $url = "http://127.0.0.1:$page_port/job-status.html?gateway=$gateway"
        . '&jobs=faultstate,jobsFailed1,jobsRunning1,nosuchjob1&interval=200';

my $profile = $t->dir . '/chromium-profile';
my $netlog = $t->dir . '/netlog.json';

my $pid = open my $out, '-|';
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    open STDERR, '>', $t->dir . '/chromium.log';
    exec $chromium, qw(--headless --no-sandbox --disable-gpu --no-first-run
                       --disable-background-networking
                       --disable-component-update --disable-sync
                       --disable-quic --virtual-time-budget=20000),
         "--user-data-dir=$profile", "--log-net-log=$netlog",
         '--net-log-capture-mode=Everything', '--dump-dom', $url;
    exit 127;
}

my $dom = do { local $/; <$out> } // '';
close $out;

sub job_state {
    my ($id) = @_;
    return $dom =~ m{<tr id="job-$id" data-state="(\w+)"} ? $1 : '';
}

ok(length $dom, 'the browser rendered the page') or diag(CiJobsTest::slurp($t->dir . '/chromium.log'));
is(job_state('faultstate'), 'Success',
   'a job seen Submitted, then Running, ends Success');
is(job_state('jobsFailed1'), 'Failed', 'a failed job');
like(job_state('jobsRunning1'), qr/^Running$/, 'a running job');
is(job_state('nosuchjob1'), 'missing', 'a missing job');
like($dom, qr{<td class="id">faultstate</td><td class="state">Success</td><td><progress max="100" value="100">},
     'progress shown');

my @states = map { $_->{response} =~ m{<JobId>faultstate</JobId>\s*<State>(\w+)<} }
             grep { $_->{target} =~ /faultstate/ } $t->upstream_requests;
is_deeply([ @states[0 .. 2] ], [ qw(Submitted Running Success) ],
          'the page polled until the job finished');

my ($received) = $dom =~ m{<pre id="received" hidden="">(.*?)</pre>}s;
ok($received && $received =~ /^200$/m, 'the page saw the gateway\'s answers');

my $netlog_text = CiJobsTest::slurp($netlog);
ok(length $netlog_text, 'the browser\'s network log was written');

for my $where ([ 'the page', $dom ], [ 'the network log', $netlog_text ]) {
    my ($name, $text) = @$where;
    unlike($text, qr/\Q$CiJobsTest::SECRET_KEY\E/,
           "$name: no secret key");
    unlike($text, qr/q-signature|q-sign-algorithm/,
           "$name: no signature");
}

unlike($received // '', qr/^authorization:/mi,
       'no Authorization header in any response');
unlike($netlog_text, qr/"authorization:/i,
       'no Authorization header in the network log');

$t->done;
done_testing;
