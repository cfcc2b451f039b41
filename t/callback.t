#!/usr/bin/perl

# CI's notifications as wake-ups (ci_jobs_callback).  The emulator posts
# TaskFinish or WorkflowFinish when a timed job or run ends; the lookups
# that name it and are watched are queried upstream at once, so watchers
# see the end within a round trip while ci_jobs_watch_interval is 30 s.
# A notification is only a hint: a forged one changes nothing anyone
# sees; a flood costs CI at most one query per lookup and second; ids
# nothing watches cost nothing; malformed or oversize bodies are refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

my $t = CiJobsTest->new(workers => 2,
                        emulators => {
                            plain => { callback => '/ci-events' },
                            plainjson => { callback => '/ci-events',
                                           callback_json => 1 },
                        },
                        http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%

        location /watch/ {
            ci_jobs on;
            ci_jobs_apis all;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 30s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /json/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 30s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plainjson%%;
        }

        location /poll/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_cache_valid_pending 30s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            add_header X-Cache $ci_jobs_cache_status always;
        }

        location = /ci-events {
            ci_jobs_callback ci_jobs;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

# --- helpers ----------------------------------------------------------------

sub post {
    my ($body, %headers) = @_;
    my $head = "POST /ci-events HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\n";
    $head .= "Content-Length: " . length($body) . "\r\n"
        unless exists $headers{'Content-Length'}
               || exists $headers{'Transfer-Encoding'};
    $head .= "$_: $headers{$_}\r\n" for sort keys %headers;
    return $t->raw("$head\r\n$body");
}

sub task_finish {
    my ($id, $state) = @_;
    $state //= 'Success';
    return "<Response><EventName>TaskFinish</EventName><JobsDetail>"
         . "<Code>Success</Code><Message>Success</Message>"
         . "<JobId>$id</JobId><State>$state</State></JobsDetail></Response>";
}

# a stream over HTTP/1.0: the socket
sub stream_ask {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n"
             . "Accept: text/event-stream\r\n\r\n";
    return $s;
}

# what the stream sends for $secs, or until it ends: [ bytes, ended at ]
sub read_for {
    my ($s, $secs) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + $secs;
    my $buf = '';
    while (time < $deadline) {
        $sel->can_read(0.02) or next;
        my $got = sysread $s, my $chunk, 65536;
        return [ $buf, time ] unless $got;
        $buf .= $chunk;
    }
    return [ $buf, undef ];
}

# the job's own State in each event, not its operation's
sub states { return join ' ', $_[0] =~ /"JobId":"\w+","State":"(\w+)"/g }

sub upstream_for {
    my ($id) = @_;
    return scalar grep { ($_->{target} // '') =~ /\Q$id\E/ }
                  $t->upstream_requests;
}

# the notifications the emulator posted for id: it records one once
# nginx has answered it, which may come after the stream it ended
sub posted {
    my ($id, $emulator) = @_;
    my @sent;
    CiJobsTest::wait_for(sub {
        @sent = grep { $_->{id} eq $id } $t->callbacks($emulator);
    }, 5);
    return @sent;
}

sub metric {
    my ($result) = @_;
    my ($v) = $t->get('/status')->{body}
        =~ /^ci_jobs_callbacks_total\{result="$result"\} (\d+)$/m;
    return $v // 0;
}

# --- the method -------------------------------------------------------------

my $r = $t->get('/ci-events');
is($r->{status}, 405, 'GET: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');
like($r->{body}, qr{<Code>MethodNotAllowed</Code>}, "in CI's error shape");

# --- a job's end reaches its watchers within a round trip -------------------

my $s = stream_ask('/watch/jobs/timed3x1');
my $got = read_for($s, 8);
my @sent = posted('timed3x1');

is(scalar @sent, 1, 'the emulator posted TaskFinish when the job ended');
is($sent[0]{status}, 200, 'answered 200') if @sent;
like($got->[0], qr/event: end/, 'the stream ended');
is((states($got->[0]) =~ /(\w+)$/)[0], 'Success', 'with Success');
ok(defined $got->[1] && @sent && $got->[1] - $sent[0]{time} < 1,
   sprintf 'Success and end %.2f s after the notification, '
           . 'ci_jobs_watch_interval 30s',
   defined $got->[1] && @sent ? $got->[1] - $sent[0]{time} : 99);
is(upstream_for('timed3x1'), 2, 'CI asked twice: the first look, the wake');

# --- a workflow run's end ---------------------------------------------------

$s = stream_ask('/watch/workflowexecution/timed3x2');
$got = read_for($s, 8);
@sent = posted('timed3x2');

is(scalar @sent, 1, 'the emulator posted WorkflowFinish');
like($got->[0], qr/"RunId":"timed3x2".*"State":"Success".*event: end/s,
     'the run\'s watchers: Success, end');
ok(defined $got->[1] && @sent && $got->[1] - $sent[0]{time} < 1,
   sprintf 'within %.2f s of the notification',
   defined $got->[1] && @sent ? $got->[1] - $sent[0]{time} : 99);

# --- CI's JSON form --------------------------------------------------------

$s = stream_ask('/json/ai_jobs/timed3x4');
$got = read_for($s, 8);
@sent = posted('timed3x4', 'plainjson');

is(scalar @sent, 1, 'the emulator posted TaskFinish in JSON');
is($sent[0]{status}, 200, 'answered 200') if @sent;
is((states($got->[0]) =~ /(\w+)$/)[0], 'Success', 'Success');
ok(defined $got->[1] && @sent && $got->[1] - $sent[0]{time} < 1,
   sprintf 'and end within %.2f s of the notification',
   defined $got->[1] && @sent ? $got->[1] - $sent[0]{time} : 99);

# --- a forged notification changes nothing ----------------------------------

my $running = stream_ask('/watch/jobs/jobsRunning3');
$got = read_for($running, 1.5);
is(states($got->[0]), 'Running', 'a running job watched');

my $accepted = metric('accepted');
$r = post(task_finish('jobsRunning3'));
is($r->{status}, 200, 'a forged Success: 200');
is($r->{body}, '', 'an empty body');
is(metric('accepted') - $accepted, 1, 'ci_jobs_callbacks_total: accepted');

$got = read_for($running, 2);
is(states($got->[0]), '', 'the watchers are told nothing');
ok(!defined $got->[1], 'the stream stays open');
like($t->get('/watch/jobs/jobsRunning3')->{body},
     qr{<JobId>jobsRunning3</JobId>\s*<State>Running</State>},
     'a lookup says Running still');

# --- a flood: at most one query per lookup and second ------------------------

sleep 1.1;
$t->forget_upstream_requests;

my $start = time;
my @answers;
for my $i (1 .. 200) {
    push @answers, post(task_finish('jobsRunning3'))->{status};
    my $wait = $start + $i * 0.01 - time;
    sleep $wait if $wait > 0;
}
my $took = time - $start;
read_for($running, 0.3);

is(scalar(grep { $_ == 200 } @answers), 200, '200 notifications: 200 each');
my $n = upstream_for('jobsRunning3');
cmp_ok($n, '<=', 3, sprintf '%d upstream queries for them in %.1f s', $n,
       $took);
cmp_ok($n, '>=', 1, 'at least one');

# --- ids nothing watches cost nothing ---------------------------------------

sleep 1.1;
$t->forget_upstream_requests;
my $ignored = metric('ignored');

for my $i (1 .. 50) {
    post(task_finish("unknown$i"));
}

sleep 0.5;
is(scalar $t->upstream_requests, 0, '50 unknown ids: nothing upstream');
is(metric('ignored') - $ignored, 50, 'ci_jobs_callbacks_total: ignored');

# --- what is refused --------------------------------------------------------

my $invalid = metric('invalid');

for my $bad (
    [ 'not well-formed', '<Response><EventName>TaskFinish</EventName>'
                         . '<JobsDetail><JobId>jobsRunning3</JobId>' ],
    [ 'another event', '{"EventName":"TaskStart",'
                       . '"JobsDetail":{"JobId":"jobsRunning3"}}' ],
    [ 'an id that is no id', task_finish('jobsRunning3/../x') ],
    [ 'no id', '<Response><EventName>TaskFinish</EventName></Response>' ],
    [ 'empty', '' ],
    [ 'oversize', task_finish('jobsRunning3') . (' ' x 65536) ],
)
{
    $r = post($bad->[1]);
    is($r->{status}, 400, "$bad->[0]: 400");
    like($r->{body}, qr{<Code>InvalidArgument</Code>}, "$bad->[0]: its code");
}

$r = post('', 'Content-Length' => 1 << 30);
is($r->{status}, 400, 'a Content-Length of 1 GB: 400 at once');

$r = post("5\r\n<Resp\r\n0\r\n\r\n", 'Transfer-Encoding' => 'chunked');
is($r->{status}, 400, 'chunked, no length: 400');

is(metric('invalid') - $invalid, 8, 'ci_jobs_callbacks_total: invalid');

$got = read_for($running, 0.5);
is(states($got->[0]), '', 'the watchers are told nothing');
is(scalar $t->upstream_requests, 0, 'nothing upstream');

# --- the JSON form ----------------------------------------------------------

$accepted = metric('accepted');
$r = post('{"EventName":"TaskFinish","JobsDetail":{"JobId":"jobsRunning3",'
          . '"State":"Success"}}', 'Content-Type' => 'application/json');
is($r->{status}, 200, 'JSON: 200');
is(metric('accepted') - $accepted, 1, 'JSON: accepted');

$got = read_for($running, 1.5);
is(states($got->[0]), '', 'a forged JSON Success: nothing told either');
is(upstream_for('jobsRunning3'), 1, 'its query');

close $running;

# --- pollers: a pending entry woken is expired ------------------------------

is($t->get('/poll/jobs/jobsRunning4')->{headers}{'x-cache'}, 'MISS',
   'a poller: from upstream');
is($t->get('/poll/jobs/jobsRunning4')->{headers}{'x-cache'}, 'HIT',
   'then kept for ci_jobs_cache_valid_pending');
sleep 1.1;
is(post(task_finish('jobsRunning4'))->{status}, 200, 'its notification');
$t->forget_upstream_requests;
is($t->get('/poll/jobs/jobsRunning4')->{headers}{'x-cache'}, 'EXPIRED',
   'the next poller goes upstream');
is($t->get('/poll/jobs/jobsRunning4')->{headers}{'x-cache'}, 'HIT',
   'and the one after has its answer');
is(upstream_for('jobsRunning4'), 1, 'one query');

# --- configuration ----------------------------------------------------------

my ($status, $out) = $t->nginx_test(<<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /e { ci_jobs_callback nosuchzone; }
    }
EOF
isnt($status, 0, 'an unknown zone: nginx -t fails');
like($out, qr/unknown zone "nosuchzone" in "ci_jobs_callback"/,
     'naming the directive');

($status, $out) = $t->nginx_test(<<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%
        location /e {
            ci_jobs on;
            ci_jobs_callback ci_jobs;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF
isnt($status, 0, 'with ci_jobs on: nginx -t fails');
like($out, qr/"ci_jobs_callback" and "ci_jobs on" in one location/,
     'saying why');

$t->done;

done_testing;
