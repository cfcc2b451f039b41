#!/usr/bin/perl

# The terminal-state cache: finished jobs are answered from shared memory,
# everything else always goes upstream, and entries never cross buckets
# or credentials.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use POSIX ();
use Test::More;

my $other_host = 'otherbucket-1250000000.ci.ap-beijing.myqcloud.com';
my $other_id = 'AKIDothergatewaykey00000000000000000002';
my $other_key = 'othergatewaysecretkey000000000002';

my $t = CiJobsTest->new(
    workers => 2,
    secrets => [ $other_key ],
    emulators => {
        plain => { secrets => [ "$other_id:$other_key" ] },
        other => { host => $other_host },
    },
    http => <<"EOF");
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache \$ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_json auto;
        }

        location /short/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_cache_valid 1s;
        }

        location /otherkey/ {
            ci_jobs on;
            ci_jobs_secret_id $other_id;
            ci_jobs_secret_key $other_key;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
        }

        location /otherbucket/ {
            ci_jobs on;
            ci_jobs_bucket otherbucket-1250000000;
            ci_jobs_pass http://127.0.0.1:%%EMU_other%%;
            ci_jobs_cache ci_jobs;
        }

        location /nocache/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

sub upstream_count { scalar(() = $t->upstream_requests($_[0] // 'plain')) }

# looks a target up $n times; returns the cache statuses and the answers
sub lookups {
    my ($target, $n, %headers) = @_;
    my (@status, @answers);
    for (1 .. $n) {
        my $r = $t->get($target, %headers);
        push @status, $r->{headers}{'x-cache'} // '';
        push @answers, $r;
    }
    return (\@status, \@answers);
}

# --- terminal answers are cached --------------------------------------------

my %api = (jobs => 'jobs', pic => 'pic_jobs', ai => 'ai_jobs',
           inv => 'inventorytriggerjob');

for my $id (qw(jobsSuccess1 jobsFailed1 jobsCancel1 picSuccess1 aiFailed1
               invCancel1), 'jobsSuccess2,jobsFailed2,jobsCancel2') {
    my ($prefix) = $id =~ /^([a-z]+)/;
    $t->forget_upstream_requests;
    my ($status, $answers) = lookups("/ci/$api{$prefix}/$id", 3);
    is_deeply($status, [qw(MISS HIT HIT)], "$id: MISS, then HIT");
    is(upstream_count(), 1, "$id: one upstream request for three lookups");
    is($answers->[0]{status}, 200, "$id: 200");
    is($answers->[2]{body}, $answers->[0]{body}, "$id: the same body");
    is($answers->[2]{headers}{'x-ci-request-id'},
       $answers->[0]{headers}{'x-ci-request-id'},
       "$id: the same x-ci-request-id");
    is($answers->[2]{headers}{'content-type'}, 'application/xml',
       "$id: XML from the cache");
}

# --- everything else is not --------------------------------------------------

for my $case (
    [ '/ci/jobs/jobsRunning1', 'a running job' ],
    [ '/ci/jobs/jobsSubmitted1', 'a submitted job' ],
    [ '/ci/jobs/jobsPause1', 'a paused job' ],
    [ '/ci/jobs/jobsSuccess3,jobsRunning2', 'one job still running' ],
    [ '/ci/jobs/jobsSuccess4,nosuchjob9', 'a missing id' ],
    [ '/ci/jobs/nosuchjob8', 'only a missing id' ],
    [ '/ci/jobs/jobsUserData1', 'a UserData that looks like a State' ],
    [ '/ci/jobs/fault500', 'an upstream error' ],
    [ '/ci/jobs/faultmalformed', 'a malformed answer' ],
) {
    my ($target, $what) = @$case;
    $t->forget_upstream_requests;
    my ($status) = lookups($target, 2);
    is_deeply($status, [qw(MISS MISS)], "$what: never a HIT");
    is(upstream_count(), 2, "$what: every lookup goes upstream");
}

$t->forget_upstream_requests;
my ($status) = lookups(
    '/ci/jobs?queueId=p893bcda225bf4945a378da6662e81a89&tag=Translation'
    . '&states=Success', 2);
is_deeply($status, [qw(BYPASS BYPASS)], 'the list: BYPASS');
is(upstream_count(), 2, 'the list: every lookup goes upstream');

($status) = lookups('/nocache/jobs/jobsSuccess5', 1);
is_deeply($status, [''], 'no cache: the variable is empty');

# --- a job that finishes is cached from then on ------------------------------

$t->forget_upstream_requests;
my ($answers);
($status, $answers) = lookups('/ci/jobs/faultstate', 5);
my @states = map { $_->{body} =~ m{<State>(\w+)</State>} } @$answers;
is_deeply(\@states, [qw(Submitted Running Success Success Success)],
          'the job advances to Success');
is_deeply($status, [qw(MISS MISS MISS HIT HIT)],
          'cached from its first Success on');
is(upstream_count(), 3, 'three upstream requests for five lookups');

# --- expiry -----------------------------------------------------------------

# a worker keeps a copy of what its hits send: the copy of the answer
# replaced is never sent again, in either worker (HITs on new connections)

$t->forget_upstream_requests;
my ($old, $new);
($status, $old) = lookups('/short/jobs/jobsSuccess6', 6);
is_deeply($status, [qw(MISS HIT HIT HIT HIT HIT)], 'short validity: MISS, HIT');
sleep 2;
($status, $new) = lookups('/short/jobs/jobsSuccess6', 6);
is_deeply($status, [qw(EXPIRED HIT HIT HIT HIT HIT)],
          'after ci_jobs_cache_valid: EXPIRED');
is(upstream_count(), 2, 'expired: fetched again, once');
my @ids = map { $_->{headers}{'x-ci-request-id'} // '' } @$new;
isnt($ids[0], $old->[0]{headers}{'x-ci-request-id'},
     'expired: a new answer, a new x-ci-request-id');
is_deeply(\@ids, [ ($ids[0]) x 6 ], 'the new answer\'s HITs: its request id');

# --- one entry answers XML and JSON -------------------------------------------

$t->forget_upstream_requests;
my ($xml) = lookups('/ci/jobs/jobsSuccess7', 1);
my (undef, $json) = lookups('/ci/jobs/jobsSuccess7', 1,
                            Accept => 'application/json');
is($json->[0]{headers}{'x-cache'}, 'HIT', 'JSON from the XML entry: HIT');
is($json->[0]{headers}{'content-type'}, 'application/json; charset=utf-8',
   'JSON from the cache');
like($json->[0]{body}, qr/^\{"Response":\{"JobsDetail":\[\{/,
     'JSON from the cache: the JSON shape');
is(upstream_count(), 1, 'XML and JSON: one upstream request');

# --- isolation --------------------------------------------------------------

lookups('/ci/jobs/jobsSuccess8', 2);
$t->forget_upstream_requests;
($status) = lookups('/otherkey/jobs/jobsSuccess8', 2);
is_deeply($status, [qw(MISS HIT)], 'other credentials: an entry of its own');
is(upstream_count(), 1, 'other credentials: fetched with them');
($status) = lookups('/otherbucket/jobs/jobsSuccess8', 2);
is_deeply($status, [qw(MISS HIT)], 'another bucket: an entry of its own');
is(upstream_count('other'), 1, 'another bucket: fetched from its host');

# --- workers share the zone; reload keeps it ----------------------------------

$t->forget_upstream_requests;
lookups('/ci/jobs/jobsSuccess9', 1);
my @kids;
for (1 .. 4) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $bad = 0;
        for (1 .. 10) {
            my $r = $t->get('/ci/jobs/jobsSuccess9');
            $bad++ unless ($r->{headers}{'x-cache'} // '') eq 'HIT';
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}
my $misses = 0;
for (@kids) { waitpid $_, 0; $misses++ if $? }
is($misses, 0, '40 concurrent lookups in two workers: all HIT');
is(upstream_count(), 1, '41 lookups, one upstream request');

$t->reload;
($status) = lookups('/ci/jobs/jobsSuccess9', 1);
is_deeply($status, ['HIT'], 'after nginx -s reload: still a HIT');
is(upstream_count(), 1, 'after reload: no new upstream request');

# --- a full zone evicts the least recently used -------------------------------

my $n = 3000;
my $errors = 0;
for my $i (1 .. $n) {
    my $r = $t->get("/ci/jobs/genSuccess$i");
    $errors++ unless $r->{status} == 200;
}
is($errors, 0, "$n distinct finished jobs through a 1m zone: no error");

($status) = lookups("/ci/jobs/genSuccess$n", 1);
is_deeply($status, ['HIT'], 'the most recent is still cached');
($status) = lookups('/ci/jobs/genSuccess1', 1);
is_deeply($status, ['MISS'], 'the oldest was evicted');

$t->done;
done_testing;
